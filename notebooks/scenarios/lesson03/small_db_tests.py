"""The measured suite: LESSON03_TESTS (default 120) small database tests, the same under every fix.

Each test adds a user through ``session`` (the fixture each fix's conftest.py provides) and
reads it back. Nothing is committed, so nothing stays. ``test_no_db`` is the baseline: the
same number of async tests, without a database.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import User

TESTS = int(os.environ.get("LESSON03_TESTS", "120"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_small(session: AsyncSession, n: int) -> None:
    user = User(email=f"learner{n}@example.org", display_name=f"Learner {n}")
    session.add(user)
    await session.flush()
    found = await session.scalar(select(func.count()).select_from(User).where(User.email == user.email))
    assert found == 1 and user.id is not None


@pytest.mark.parametrize("n", range(TESTS))
async def test_no_db(n: int) -> None:
    await asyncio.sleep(0)
    assert n < TESTS
