"""LESSON04_TESTS tests of the same kind, each doing real database work: insert a user, a deck
and five cards, count them, then keep the server busy LESSON04_WORK_MS more (pg_sleep stands in
for slower queries, locks and network round trips)."""

import os

import pytest
from sqlalchemy import func, select, text

from flashcards.models import Card, Deck, User

TESTS = int(os.environ.get("LESSON04_TESTS", "40"))
WORK = float(os.environ.get("LESSON04_WORK_MS", "0")) / 1000


@pytest.mark.parametrize("n", range(TESTS))
async def test_work(db_session, n):
    deck = Deck(owner=User(email=f"user{n}@example.org", display_name=f"user {n}"), title=f"deck {n}",
                cards=[Card(front=f"front {i}", back=f"back {i}") for i in range(5)])
    db_session.add(deck)
    await db_session.flush()
    assert await db_session.scalar(select(func.count()).select_from(Card).where(Card.deck_id == deck.id)) == 5
    await db_session.execute(text("SELECT pg_sleep(:s)"), {"s": WORK})
