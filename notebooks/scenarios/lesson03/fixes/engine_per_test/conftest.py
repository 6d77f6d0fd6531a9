"""Fix (a), the case file's plan: a new engine for every test, made in that test's loop, disposed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from flashcards import db, settings


@pytest_asyncio.fixture(autouse=True)
async def app_engine() -> AsyncIterator[AsyncEngine]:
    engine = db.configure(settings.database_url())  # born in this test's loop
    yield engine
    await db.dispose()  # its pooled connection closes in the loop that opened it


@pytest_asyncio.fixture
async def session(app_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    assert db.async_session_maker is not None
    async with db.async_session_maker() as session:
        yield session  # closing it rolls back what the test did
