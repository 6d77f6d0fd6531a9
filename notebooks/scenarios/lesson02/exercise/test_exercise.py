"""Self-check for the exercise: data flows both ways, a failed request is harmless, nothing is left."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from flashcards.models import User


async def users(connection) -> int:
    return await connection.scalar(select(func.count()).select_from(User))


async def test_route_sees_the_tests_rows(lab_connection, client):
    assert await users(lab_connection) == 0
    await lab_connection.execute(text("INSERT INTO users (email, display_name) VALUES ('ex@example.org', 'Ex')"))

    assert [u["email"] for u in (await client.get("/users")).json()] == ["ex@example.org"]


async def test_route_commits_stay_inside_the_test(lab_connection, client):
    assert await users(lab_connection) == 0
    body = {"email": "fi@example.org", "display_name": "Fi"}
    assert (await client.post("/users", json=body)).status_code == 201
    with pytest.raises(IntegrityError):
        await client.post("/users", json=body)

    assert await users(lab_connection) == 1


async def test_nothing_is_left_behind(lab_connection, client):
    assert await users(lab_connection) == 0
    assert (await client.get("/users")).json() == []
