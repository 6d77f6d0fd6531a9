"""The exercise's harness: a client for the app, and YOUR override (a fixture named session_override).

LESSON02_OVERRIDE names the module that holds it: override_stub (yours to write) by default,
or the reference answer's module (the check sets it).
"""

import os

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient

from flashcards import db
from flashcards.api import app

pytest_plugins = [os.environ.get("LESSON02_OVERRIDE", "override_stub")]


@pytest_asyncio.fixture
async def client(session_override):
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture(autouse=True)
def override_removed_afterwards():
    yield  # autouse: set up first, so torn down after session_override
    assert db.get_session not in app.dependency_overrides, "session_override must remove its override after the test"
