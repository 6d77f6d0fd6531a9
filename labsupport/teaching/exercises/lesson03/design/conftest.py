"""Lesson 03, exercise 2, a reference answer: the tests keep their own loops, so the app's engine
keeps no connection between checkouts (NullPool, fix (b)); each test starts from empty tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from flashcards import db, settings
from flashcards.api import app


@pytest.fixture(scope="session")
def app_engine() -> Iterator[AsyncEngine]:
    engine = db.configure(settings.database_url(), poolclass=NullPool)  # belongs to no loop
    yield engine
    engine.sync_engine.dispose()  # nothing is open: no loop needed


@pytest_asyncio.fixture
async def db_session(app_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    assert db.async_session_maker is not None
    async with db.async_session_maker() as session:  # a new connection, in this test's loop
        await session.execute(text("DELETE FROM users"))
        await session.commit()
        yield session


@pytest_asyncio.fixture
async def client(app_engine: AsyncEngine) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as http:
        yield http
