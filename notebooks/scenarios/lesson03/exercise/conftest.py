"""EXERCISE: make every test in test_exercise.py pass, changing only this file and pytest.ini.

This is the team's conftest from the case file: run the notebook's check cell and test 2 on
fail with "attached to a different loop", then "another operation is in progress".

Goal: all six tests pass, and keep passing however many tests run after them.
Constraints:
- the tests ask for a fixture named ``db_session`` (an AsyncSession) and expect to start
  from empty tables; they commit, and read attributes such as ``user.id`` after a commit;
- the database's URL is the app's setting, ``flashcards.settings.database_url()``;
- any of section 4's three fixes will do; the lab recommends (c).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards import db, settings

_db_initialized = False


@pytest_asyncio.fixture(autouse=True)
async def ensure_database() -> AsyncIterator[None]:
    global _db_initialized
    if not _db_initialized:
        db.configure(settings.database_url())
        _db_initialized = True
    yield


@pytest_asyncio.fixture
async def db_session() -> AsyncIterator[AsyncSession]:
    assert db.async_session_maker is not None
    async with db.async_session_maker() as session:
        await session.execute(text("DELETE FROM users"))
        await session.commit()
        yield session
