"""Three engines for tests that each run in an event loop of their own (see pytest.ini)."""

import contextlib

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from flashcards import settings


@pytest.fixture(scope="session")
def plain_engine():  # a plain fixture, made once for the run
    return create_async_engine(settings.database_url())


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def session_loop_engine():  # made once, in the session's loop, and used there once
    engine = create_async_engine(settings.database_url())
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    yield engine
    with contextlib.suppress(Exception):  # a failed test may have left its connection busy
        await engine.dispose()


@pytest_asyncio.fixture
async def engine_per_test():  # made again for every test
    engine = create_async_engine(settings.database_url())
    yield engine
    await engine.dispose()
