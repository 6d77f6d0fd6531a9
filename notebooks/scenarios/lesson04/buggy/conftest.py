"""The team's parallel set-up, condensed from their plan: every xdist worker shares ONE test
database (TEST_DATABASE_URL); each worker's session-scoped engine runs create_all at its start
and drop_all at its end, and each test's session rolls back ("transaction isolation").
"""

import os

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from lesson04.buggy import lineup

TEST_DATABASE_URL = os.environ["TEST_DATABASE_URL"]  # the same database for every worker


def create_test_engine(worker_id):
    return create_async_engine(TEST_DATABASE_URL, poolclass=NullPool,
                               connect_args={"server_settings": {"application_name": f"pytest-{worker_id}"}})


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_db_engine(worker_id, tmp_path_factory):
    engine = create_test_engine(worker_id)
    await lineup.create_schema(engine, worker_id, tmp_path_factory)  # create_all (see lineup.py)
    yield engine
    await lineup.drop_schema(engine, worker_id, tmp_path_factory)  # this worker is done: drop_all
    await engine.dispose()


@pytest_asyncio.fixture
async def db_session(session_db_engine):
    async with AsyncSession(session_db_engine, expire_on_commit=False) as session:
        yield session
        await session.rollback()  # nothing a test wrote stays


def pytest_runtest_setup(item):
    """Note the worker in the JUnit XML, even for tests whose fixtures fail (for the lesson's tables)."""
    item.user_properties.append(("worker", os.environ.get("PYTEST_XDIST_WORKER", "master")))
    lineup.before_test(item)  # LESSON04_LINE_UP=1 only: see lineup.py
