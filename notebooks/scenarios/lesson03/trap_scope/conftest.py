"""The trap: ``scope="session"`` says how long a fixture's value is kept, not which loop it runs in.

Three engines, each made once for the run:
- engine_cached:        scope="session" only (its loop scope is the ini default: function);
- engine_session_loop:  scope="session", loop_scope="session", but the tests still run in
                        their own function-scoped loops;
- lab_pooled_engine:    labsupport's, in the same situation: it says so in one line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from flashcards import settings


async def checked_engine() -> AsyncEngine:
    engine = create_async_engine(settings.database_url())
    async with engine.connect() as connection:  # fail early if the database is not there
        await connection.execute(text("SELECT 1"))
    return engine


@pytest_asyncio.fixture(scope="session")
async def engine_cached() -> AsyncIterator[AsyncEngine]:
    engine = await checked_engine()
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine_session_loop() -> AsyncIterator[AsyncEngine]:
    engine = await checked_engine()  # its pooled connection is opened in the session loop
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def lab_database_url() -> str:
    """Where labsupport's engines connect: the app's own setting."""
    return settings.database_url()
