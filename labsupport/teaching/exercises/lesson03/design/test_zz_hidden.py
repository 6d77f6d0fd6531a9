"""Lesson 03, exercise 2: the check's further tests, run after the visible ones."""

from __future__ import annotations

import asyncio

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import User

_loops: list[asyncio.AbstractEventLoop] = []  # kept alive, so no two are ever the same object


@pytest.mark.parametrize("n", range(6))
async def test_many_more_tests_after_them(client: AsyncClient, db_session: AsyncSession, n: int) -> None:
    loop = asyncio.get_running_loop()
    assert not any(seen is loop for seen in _loops), "two tests ran in the same event loop: keep a loop per test"
    _loops.append(loop)
    assert await db_session.scalar(select(func.count()).select_from(User)) == 0, "rows left by an earlier test"
    user = User(email=f"later{n}@example.org", display_name=f"Later {n}")
    db_session.add(user)
    await db_session.commit()
    assert user.id is not None
    assert [u["email"] for u in (await client.get("/users")).json()] == [user.email], \
        "the route did not see the test's user"
