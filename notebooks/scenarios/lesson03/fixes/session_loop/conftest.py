"""Fix (c): one event loop for the run (pytest.ini), one pooled engine made in it, a rollback per test.

pytest.ini sets asyncio_default_fixture_loop_scope and asyncio_default_test_loop_scope to
session, so the engine fixture and every test share one loop, and the pool's connections
stay usable. Each test runs inside an outer transaction that is rolled back (lesson 02).
"""

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
async def session(app_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with app_engine.connect() as connection:
        outer = await connection.begin()  # the test's outer transaction
        # create_savepoint: the test's commit() only releases a savepoint (lesson 02).
        # expire_on_commit=False: after commit() the test can still read user.id; by default the
        # session would expire it, and reloading it lazily fails in async code (MissingGreenlet).
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as session:
            yield session
        await outer.rollback()  # nothing the test did stays
