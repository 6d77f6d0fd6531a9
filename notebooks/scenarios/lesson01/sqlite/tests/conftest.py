"""The tempting fix: the tests get an in-memory SQLite database instead of the dev database."""

import os

os.environ["FLASHCARDS_DATABASE_URL"] = "sqlite+aiosqlite:///:memory:"  # before the app is imported

import pytest  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from httpx import ASGITransport, AsyncClient  # noqa: E402

from flashcards.api import app  # noqa: E402
from flashcards.db import drop_db, init_db  # noqa: E402


@pytest.fixture(autouse=True)
async def clean_schema():
    async with LifespanManager(app):  # a fresh in-memory database for every test
        await init_db()
        yield
        await drop_db()


@pytest.fixture
async def client(clean_schema):
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
