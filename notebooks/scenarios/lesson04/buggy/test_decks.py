"""Decks and cards: a longer module, so its worker is still busy when the other one finishes."""

import os

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from flashcards.models import Card, Deck, User, Visibility

PAUSE = float(os.environ.get("LESSON04_TEST_MS", "20")) / 1000


async def add_deck(session, cards=0, **fields):
    owner = User(email="owner@example.org", display_name="owner")
    deck = Deck(owner=owner, title="Verbs", **fields)
    deck.cards = [Card(front=f"front {i}", back=f"back {i}") for i in range(cards)]
    session.add(deck)
    await session.flush()
    await session.execute(text("SELECT pg_sleep(:s)"), {"s": PAUSE})
    return deck


@pytest.mark.parametrize("cards", range(1, 11))
async def test_deck_holds_its_cards(db_session, cards):
    deck = await add_deck(db_session, cards)
    count = await db_session.scalar(select(func.count()).select_from(Card).where(Card.deck_id == deck.id))
    assert count == cards


async def test_server_gives_decks_a_uuid(db_session):
    deck = await add_deck(db_session)
    assert deck.id is not None and deck.id.version == 4


async def test_visibility_defaults_to_private(db_session):
    deck = await add_deck(db_session)
    await db_session.refresh(deck)
    assert deck.visibility is Visibility.private


async def test_visibility_is_a_native_enum(db_session):
    await add_deck(db_session)
    labels = (await db_session.execute(text("SELECT unnest(enum_range(NULL::deck_visibility))::text"))).scalars()
    assert list(labels) == ["private", "shared", "public"]


async def test_front_is_unique_within_a_deck(db_session):
    deck = await add_deck(db_session, cards=1)
    with pytest.raises(IntegrityError):
        async with db_session.begin_nested():
            db_session.add(Card(deck=deck, front="front 0", back="again"))
            await db_session.flush()


async def test_deleting_a_deck_deletes_its_cards(db_session):
    deck = await add_deck(db_session, cards=3)
    await db_session.delete(deck)
    await db_session.flush()
    assert await db_session.scalar(select(func.count()).select_from(Card)) == 0
