"""The check's further tests, run after the six visible ones (not shown in the notebook)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import User


@pytest.mark.parametrize("n", range(8))
async def test_many_more_tests_after_them(db_session: AsyncSession, n: int) -> None:
    assert await db_session.scalar(select(func.count()).select_from(User)) == 0, "rows left by an earlier test"
    user = User(email=f"later{n}@example.org", display_name=f"Later {n}")
    db_session.add(user)
    await db_session.commit()
    assert user.id is not None
