"""Two ways to isolate a test, side by side: labsupport's rollback fixtures, and a database per test.

``cloned_session_factory`` gives each test a fresh database copied from a template that holds
the schema (CREATE DATABASE ... TEMPLATE, a file copy), and drops it afterwards. Its sessions
commit for real and each gets its own connection, like the app in production.
Environment: LAB_TEST_DATABASE_URL (for the rollback fixtures), LESSON02_ADMIN_URL (a user
that may create databases) and LESSON02_TEMPLATE (the template's name).
"""

import itertools
import os

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from flashcards import db
from flashcards.api import app
from labsupport import databases, urls

_numbers = itertools.count(1)


def pytest_collection_modifyitems(items):
    """Run test_cost's rollback and clone tests in turns, so both meet the same noise."""
    items.sort(key=lambda item: (str(item.path), getattr(getattr(item, "callspec", None), "params", {}).get("i", -1)))


@pytest.fixture(scope="session")
def lab_app():
    return app


@pytest.fixture(scope="session")
def lab_session_dependency():
    return db.get_session


@pytest_asyncio.fixture
async def cloned_database_url():
    admin, template = os.environ["LESSON02_ADMIN_URL"], os.environ["LESSON02_TEMPLATE"]
    name = await databases.clone(admin, template, f"{template}_{os.getpid()}_{next(_numbers)}")
    yield urls.with_database(admin, name)
    await databases.drop(admin, name)


@pytest_asyncio.fixture
async def cloned_session_factory(cloned_database_url):
    engine = create_async_engine(cloned_database_url, poolclass=NullPool)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()
