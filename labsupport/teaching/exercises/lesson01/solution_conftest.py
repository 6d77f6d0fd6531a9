"""Reference answer to lesson 01's design task (scenarios/lesson01/exercise/tests/conftest.py)."""

import os
import secrets

import pytest
from sqlalchemy.engine import make_url

from labsupport import databases, urls
from labsupport.connection import run_sync

DEV_URL = os.environ.get("FLASHCARDS_DATABASE_URL", "")
DEV = make_url(DEV_URL).database if DEV_URL else None  # what the URL says; None when it names no database
TEST_DB = f"{DEV}_{secrets.token_hex(2)}_test" if DEV else None

if TEST_DB:  # settings first ...
    os.environ["FLASHCARDS_DATABASE_URL"] = urls.with_database(DEV_URL, TEST_DB)

from asgi_lifespan import LifespanManager  # noqa: E402
from httpx import ASGITransport, AsyncClient  # noqa: E402

from flashcards.api import app  # noqa: E402  ... then the app


def pytest_sessionstart(session):
    if TEST_DB is None:
        raise pytest.UsageError("FLASHCARDS_DATABASE_URL names no database: set it to your dev database's URL, "
                                "e.g. postgresql://user@host/app_dev")
    run_sync(databases.clone(DEV_URL, os.environ["LESSON01_TEMPLATE"], TEST_DB))


def pytest_sessionfinish(session):
    if TEST_DB:
        run_sync(databases.drop(DEV_URL, TEST_DB))


@pytest.fixture
async def client():
    async with LifespanManager(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
