"""The team's test setup, as it was: a clean schema around every test.

Nothing here names a database: the app's lifespan builds its engine from
FLASHCARDS_DATABASE_URL, and in a developer's shell that is the dev database.
"""

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from flashcards.api import app
from flashcards.db import drop_db, init_db  # these act on the app's own global engine


@pytest.fixture(autouse=True)
async def clean_schema():
    async with LifespanManager(app):  # the lifespan calls db.configure(settings.database_url())
        await drop_db()  # a clean slate for every test...
        await init_db()
        yield
        await drop_db()  # ...and nothing left behind


@pytest.fixture
async def client(clean_schema):
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
