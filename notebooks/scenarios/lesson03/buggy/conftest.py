"""The team's conftest (case file, session 12): share the app's global engine, initialise it once.

pytest.ini gives every test its own event loop; the flag below keeps the engine, and the
connections in its pool, from one test (and loop) to the next.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest_asyncio
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards import db, settings
from flashcards.api import app

POOL_PRE_PING = os.environ.get("LESSON03_POOL_PRE_PING") == "1"  # the variant the notebook also runs

_db_initialized = False  # module-level flag: outlives each test's event loop


@pytest_asyncio.fixture(autouse=True)
async def ensure_database() -> AsyncIterator[None]:
    """Initialise the app's global engine and session factory, once."""
    global _db_initialized
    if not _db_initialized:
        db.configure(settings.database_url(), pool_pre_ping=POOL_PRE_PING)
        _db_initialized = True
    yield


@pytest_asyncio.fixture
async def db_session() -> AsyncIterator[AsyncSession]:
    """A session from the SAME global factory the routes use; tables emptied first."""
    assert db.async_session_maker is not None
    async with db.async_session_maker() as session:
        await session.execute(text("DELETE FROM users"))  # decks and cards follow (ON DELETE CASCADE)
        await session.commit()
        yield session


@pytest_asyncio.fixture
async def client() -> AsyncIterator[AsyncClient]:
    """The app over ASGITransport (no lifespan: ensure_database did its job)."""
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http
