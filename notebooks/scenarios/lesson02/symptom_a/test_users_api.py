"""A route must list the user the test created."""

from flashcards.models import User


async def test_route_lists_the_fixture_user(db_session, client):
    db_session.add(User(email="ada@example.org", display_name="Ada"))
    await db_session.flush()

    response = await client.get("/users")

    assert response.status_code == 200, response.json()["detail"]
    assert [u["email"] for u in response.json()] == ["ada@example.org"]
