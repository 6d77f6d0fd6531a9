"""The design task's further tests: the check copies them beside the visible ones as test_hidden_checks.py."""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from flashcards.models import User


async def test_a_route_commit_reaches_the_next_request_and_the_test(lab_connection, client):
    body = {"email": "hid@example.org", "display_name": "Hid"}
    assert (await client.post("/users", json=body)).status_code == 201

    assert [u["email"] for u in (await client.get("/users")).json()] == ["hid@example.org"]
    assert await lab_connection.scalar(select(func.count()).select_from(User)) == 1


async def test_a_failed_request_leaves_the_next_one_working(lab_connection, client):
    body = {"email": "twice@example.org", "display_name": "Twice"}
    assert (await client.post("/users", json=body)).status_code == 201
    try:
        await client.post("/users", json=body)
    except IntegrityError:
        pass

    assert (await client.post("/users", json={"email": "next@example.org", "display_name": "N"})).status_code == 201
    assert len((await client.get("/users")).json()) == 2
