"""Reference solution, fix (c) of the lesson: one loop for the run (see pytest.ini), one pooled
engine made in it, and each test inside an outer transaction that is rolled back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from flashcards import db, settings


@pytest_asyncio.fixture(scope="session")
async def app_engine() -> AsyncIterator[AsyncEngine]:
    engine = db.configure(settings.database_url())  # born in the session loop, used by every test
    yield engine
    await db.dispose()


@pytest_asyncio.fixture
async def db_session(app_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with app_engine.connect() as connection:
        outer = await connection.begin()
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as session:
            yield session  # commit() only releases a savepoint; user.id stays readable after it
        await outer.rollback()
