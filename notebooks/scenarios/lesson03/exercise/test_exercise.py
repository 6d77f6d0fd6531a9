"""Six tests the exercise must make pass. Each expects to start from empty tables."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import Card, Deck, User, Visibility

TESTS = 6


async def count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_tables_start_empty(db_session: AsyncSession) -> None:
    assert await count(db_session, User) == 0


async def test_new_user_gets_an_id(db_session: AsyncSession) -> None:
    user = User(email="ada@example.org", display_name="Ada")
    db_session.add(user)
    await db_session.commit()
    assert user.id is not None and await count(db_session, User) == 1


async def test_three_users_and_only_three(db_session: AsyncSession) -> None:
    db_session.add_all(User(email=f"u{i}@example.org", display_name=f"U{i}") for i in range(3))
    await db_session.commit()
    assert await count(db_session, User) == 3


async def test_deck_visibility_is_a_native_enum(db_session: AsyncSession) -> None:
    user = User(email="bo@example.org", display_name="Bo")
    db_session.add(user)
    await db_session.flush()
    deck = Deck(owner_id=user.id, title="Public verbs", visibility=Visibility.public)
    db_session.add(deck)
    await db_session.commit()
    kind = await db_session.scalar(select(func.pg_typeof(Deck.visibility)).where(Deck.id == deck.id))
    assert str(kind) == "deck_visibility"


async def test_duplicate_email_is_refused(db_session: AsyncSession) -> None:
    db_session.add(User(email="cy@example.org", display_name="Cy"))
    await db_session.commit()
    db_session.add(User(email="cy@example.org", display_name="Cy again"))
    with pytest.raises(IntegrityError):
        await db_session.commit()
    await db_session.rollback()
    assert await count(db_session, User) == 1


async def test_cards_go_with_their_deck(db_session: AsyncSession) -> None:
    user = User(email="di@example.org", display_name="Di")
    db_session.add(user)
    await db_session.flush()
    deck = Deck(owner_id=user.id, title="Nouns")
    db_session.add(deck)
    await db_session.flush()
    db_session.add_all(Card(deck_id=deck.id, front=f"q{i}", back=f"a{i}") for i in range(4))
    await db_session.commit()
    await db_session.delete(deck)
    await db_session.commit()
    assert await count(db_session, Card) == 0
