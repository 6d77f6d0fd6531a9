"""For apps that build things at startup: run the lifespan too (asgi-lifespan), keep the override."""

import pytest

from flashcards import db
from flashcards.models import User


@pytest.fixture(scope="module")
def lab_run_lifespan():
    return True


async def test_lifespan_ran_and_routes_still_use_the_test_connection(lab_session, lab_client):
    assert db.async_session_maker is not None  # the app's startup built its factory
    lab_session.add(User(email="di@example.org", display_name="Di"))
    await lab_session.commit()

    response = await lab_client.get("/users")

    assert [u["email"] for u in response.json()] == ["di@example.org"]
