"""The tempting fix: the tests get an in-memory SQLite database instead of the dev database."""

import os

os.environ["FLASHCARDS_DATABASE_URL"] = "sqlite+aiosqlite:///:memory:"  # before the app is imported

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from flashcards.api import app
from flashcards.db import drop_db, init_db


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
