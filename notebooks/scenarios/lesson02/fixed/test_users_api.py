"""The fixture's rows reach the routes, the routes' commits reach the test, nothing outlives a test.

Every test first checks that it starts from empty tables, so the order they run in does not matter.
"""

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from flashcards.models import Card, Deck, User


async def rows(session) -> int:
    return sum([await session.scalar(select(func.count()).select_from(t)) for t in (User, Deck, Card)])


async def test_route_lists_the_fixture_user(lab_session, lab_client):
    assert await rows(lab_session) == 0
    lab_session.add(User(email="ada@example.org", display_name="Ada"))
    await lab_session.commit()  # only releases a savepoint: the outer transaction stays open

    response = await lab_client.get("/users")

    assert response.status_code == 200, response.text
    assert [u["email"] for u in response.json()] == ["ada@example.org"]


async def test_routes_commits_are_visible_in_the_test(lab_session, lab_client):
    assert await rows(lab_session) == 0
    user = (await lab_client.post("/users", json={"email": "bo@example.org", "display_name": "Bo"})).json()
    deck = (await lab_client.post("/decks", json={"owner_id": user["id"], "title": "Verbs"})).json()
    card = await lab_client.post(f"/decks/{deck['id']}/cards", json={"front": "ir", "back": "to go"})

    assert card.status_code == 201, card.text
    assert (await lab_client.get(f"/decks/{deck['id']}")).json()["cards"] == 1
    assert await rows(lab_session) == 3


async def test_a_failed_request_leaves_the_test_usable(lab_session, lab_client):
    assert await rows(lab_session) == 0
    body = {"email": "cy@example.org", "display_name": "Cy"}
    assert (await lab_client.post("/users", json=body)).status_code == 201
    with pytest.raises(IntegrityError):  # same e-mail: the route's savepoint is rolled back, nothing else
        await lab_client.post("/users", json=body)

    assert [u["email"] for u in (await lab_client.get("/users")).json()] == ["cy@example.org"]


async def test_each_test_starts_empty(lab_session, lab_client):
    assert await rows(lab_session) == 0
    assert (await lab_client.get("/users")).json() == []
