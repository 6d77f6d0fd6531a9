"""Reference solution: one loop for the run, labsupport's pooled engine, a rollback per test.

pytest.ini stays as it is; the hook below moves every async test into the session loop
(pytest-asyncio's documented recipe), and the fixtures ask for that loop explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from flashcards import settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every async test in the one session-scoped loop."""
    session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if is_async_test(item):
            item.add_marker(session_loop, append=False)


@pytest.fixture(scope="session")
def lab_database_url() -> str:
    """Where lab_pooled_engine connects: the app's own setting."""
    return settings.database_url()


@pytest_asyncio.fixture(loop_scope="session")
async def db_session(lab_pooled_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """The test's session inside an outer transaction; commit() only releases a savepoint."""
    async with lab_pooled_engine.connect() as connection:
        outer = await connection.begin()
        async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as session:
            yield session
        await outer.rollback()
