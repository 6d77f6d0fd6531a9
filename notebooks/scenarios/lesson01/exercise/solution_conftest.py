"""Reference answer: a test database of its own, named with the marker, known before the app is imported."""

import os
import secrets

from labsupport import databases, urls
from labsupport.connection import run_sync

ADMIN_URL = os.environ["LESSON01_ADMIN_URL"]
TEMPLATE = os.environ["LESSON01_TEMPLATE"]
TEST_DB = f"{os.environ['LESSON01_PREFIX']}_ex{secrets.token_hex(2)}_test"

os.environ["FLASHCARDS_DATABASE_URL"] = urls.with_database(ADMIN_URL, TEST_DB)  # steps 1 and 2

import pytest  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from httpx import ASGITransport, AsyncClient  # noqa: E402

from flashcards.api import app  # noqa: E402


def pytest_sessionstart(session):  # step 3
    run_sync(databases.clone(ADMIN_URL, TEMPLATE, TEST_DB))


def pytest_sessionfinish(session):  # step 4
    run_sync(databases.drop(ADMIN_URL, TEST_DB))


@pytest.fixture
async def client():
    async with LifespanManager(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
