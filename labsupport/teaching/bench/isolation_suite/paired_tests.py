"""The measured suite next to itself: small_tests' test on the lab's ``session``, and the same body with
the isolation the chain does (an outer transaction, a session on a savepoint, the rollback) in the test,
on the chain's own engine (pooled, born in the session loop)."""

from __future__ import annotations

import os

import pytest
from small_tests import test_insert_and_read_back as body
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

TESTS = int(os.environ.get("ISOBENCH_TESTS", "200"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_insert_and_read_back(session: AsyncSession, n: int) -> None:
    await body(session, n)


@pytest.mark.parametrize("n", range(TESTS))
async def test_in_its_body(lab_engine: AsyncEngine, n: int) -> None:
    async with lab_engine.connect() as conn:
        outer = await conn.begin()
        async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as session:
            await body(session, n)
        await outer.rollback()
