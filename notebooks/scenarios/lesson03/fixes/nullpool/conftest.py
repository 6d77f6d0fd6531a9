"""Fix (b): one engine for the run, with NullPool: no pooled connection outlives a checkout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from flashcards import db, settings


@pytest.fixture(scope="session", autouse=True)
def app_engine() -> Iterator[AsyncEngine]:
    engine = db.configure(settings.database_url(), poolclass=NullPool)  # belongs to no loop
    yield engine
    engine.sync_engine.dispose()  # nothing is open, so this needs no loop


@pytest_asyncio.fixture
async def session(app_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    assert db.async_session_maker is not None
    async with db.async_session_maker() as session:  # a new connection, in this test's loop
        yield session  # closing it rolls back, then closes the connection
