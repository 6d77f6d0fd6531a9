"""Lesson 03's fix (a): a pooled engine made in each test's loop, disposed after it; rollback isolation."""

import os

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine


@pytest.fixture
async def session():
    engine = create_async_engine(os.environ["ISOBENCH_SCHEMA_URL"])
    try:
        async with engine.connect() as conn:
            outer = await conn.begin()
            async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint",
                                    expire_on_commit=False) as session:
                yield session
            await outer.rollback()
    finally:
        await engine.dispose()
