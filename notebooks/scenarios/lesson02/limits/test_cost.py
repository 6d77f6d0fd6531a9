"""The same small test many times under each kind of isolation, interleaved, to time them side by side.

LESSON02_TIMING_TESTS sets how many of each (default 5); conftest.py interleaves them. JUnit's time per test covers set-up,
the test and tear-down, so it includes the connection, the clone and the drop.
"""

import os

import pytest
import pytest_asyncio
from httpx import ASGITransport, AsyncClient

from flashcards import db
from flashcards.api import app

N = int(os.environ.get("LESSON02_TIMING_TESTS", "5"))


@pytest_asyncio.fixture
async def cloned_client(cloned_session_factory):
    async def session_for_request():
        async with cloned_session_factory() as session:
            yield session

    app.dependency_overrides[db.get_session] = session_for_request
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
    del app.dependency_overrides[db.get_session]


async def create_and_list_a_user(client, i):
    created = await client.post("/users", json={"email": f"u{i}@example.org", "display_name": "U"})
    assert created.status_code == 201, created.text
    assert [u["email"] for u in (await client.get("/users")).json()] == [f"u{i}@example.org"]


@pytest.mark.parametrize("i", range(N))
async def test_rollback(i, lab_client):
    await create_and_list_a_user(lab_client, i)


@pytest.mark.parametrize("i", range(N))
async def test_clone(i, cloned_client):
    await create_and_list_a_user(cloned_client, i)
