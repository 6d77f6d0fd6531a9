"""Users: a short module (loadscope sends it to one worker as a whole)."""

import os

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from flashcards.models import User

PAUSE = float(os.environ.get("LESSON04_TEST_MS", "20")) / 1000  # a test's own database time


async def add_user(session, email="ada@example.org"):
    user = User(email=email, display_name=email.split("@")[0])
    session.add(user)
    await session.flush()
    await session.execute(text("SELECT pg_sleep(:s)"), {"s": PAUSE})
    return user


async def test_user_gets_an_id(db_session):
    user = await add_user(db_session)
    assert user.id is not None


async def test_server_sets_created_at(db_session):
    user = await add_user(db_session)
    await db_session.refresh(user)
    assert user.created_at is not None


async def test_emails_are_unique(db_session):
    await add_user(db_session)
    with pytest.raises(IntegrityError):
        async with db_session.begin_nested():
            await add_user(db_session)


async def test_new_user_has_no_decks(db_session):
    user = await add_user(db_session)
    await db_session.refresh(user, ["decks"])
    assert user.decks == []


async def test_each_test_starts_without_users(db_session):
    await add_user(db_session, "grace@example.org")
    assert await db_session.scalar(select(func.count()).select_from(User)) == 1
