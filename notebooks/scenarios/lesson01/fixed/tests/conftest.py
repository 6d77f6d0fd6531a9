"""The fixed setup: a test database of its own, cloned from a template, and known to the app
before the app is imported. The guard (see pytest.ini) checks it with the server first."""

import os
import secrets

from labsupport import databases, urls
from labsupport.connection import run_sync

ADMIN_URL = os.environ["LESSON01_ADMIN_URL"]  # the server, to create and drop databases
TEMPLATE = os.environ["LESSON01_TEMPLATE"]  # holds the schema and no data
TEST_DB = f"{os.environ['LESSON01_PREFIX']}_run{secrets.token_hex(2)}_test"  # _test: the guard's marker

# The app reads FLASHCARDS_DATABASE_URL: point it at the test database BEFORE importing the app.
os.environ["FLASHCARDS_DATABASE_URL"] = urls.with_database(ADMIN_URL, TEST_DB)

import pytest  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from httpx import ASGITransport, AsyncClient  # noqa: E402
from sqlalchemy import text  # noqa: E402

from flashcards import db  # noqa: E402
from flashcards.api import app  # noqa: E402


def pytest_sessionstart(session):
    run_sync(databases.clone(ADMIN_URL, TEMPLATE, TEST_DB))  # a file copy: the schema, in milliseconds


def pytest_sessionfinish(session):
    run_sync(databases.drop(ADMIN_URL, TEST_DB))


@pytest.fixture
async def client():
    async with LifespanManager(app):
        async with db.engine.begin() as conn:  # allowed: the server says this is a test database
            await conn.execute(text("TRUNCATE users, decks, cards RESTART IDENTITY"))
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
