"""The tests exercise 2 must make pass. Each expects to start from empty tables."""

from __future__ import annotations

import asyncio

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import User


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_tables_start_empty(db_session: AsyncSession) -> None:
    assert await count_users(db_session) == 0, "rows left by an earlier test"


async def test_route_sees_a_user_the_test_added(client: AsyncClient, db_session: AsyncSession) -> None:
    user = User(email="ada@example.org", display_name="Ada")
    db_session.add(user)
    await db_session.commit()
    assert user.id is not None
    response = await client.get("/users")
    assert [u["email"] for u in response.json()] == ["ada@example.org"], "the route did not see the test's user"


async def test_reminder_runs_in_the_background(client: AsyncClient, db_session: AsyncSession) -> None:
    response = await client.post("/users", json={"email": "bo@example.org", "display_name": "Bo"})
    assert response.status_code == 201
    asyncio.get_running_loop().create_task(asyncio.sleep(3600), name="send-reminder")  # fire and forget


async def test_no_task_is_left_from_an_earlier_test(db_session: AsyncSession) -> None:
    left = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert left == [], f"a task an earlier test started is still running in this test's loop: {left}"


async def test_users_listed_in_order(client: AsyncClient, db_session: AsyncSession) -> None:
    for name in ("Cy", "Di"):
        assert (await client.post("/users", json={"email": f"{name}@example.org", "display_name": name})).is_success
    response = await client.get("/users")
    assert [u["display_name"] for u in response.json()] == ["Cy", "Di"]
    assert await count_users(db_session) == 2
