"""The same test as in symptom A, now recording which connection each side uses."""

from lesson02 import support as probe

from flashcards.models import User


async def test_route_lists_the_fixture_user(db_session, client):
    db_session.add(User(email="ada@example.org", display_name="Ada"))
    await db_session.flush()  # the INSERT ran, inside the fixture's open transaction

    response = await client.get("/users")

    fixture = await probe.backend(db_session)
    route = (await client.get("/_lab/backend")).json()
    probe.save("symptom_b", {"fixture": fixture, "route": route, "rows_seen_by_route": len(response.json())})
    assert response.status_code == 200, response.text
    assert [u["email"] for u in response.json()] == ["ada@example.org"]
