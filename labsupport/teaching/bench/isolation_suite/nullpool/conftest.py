"""Hand-written: one NullPool engine, a new connection per test inside an outer transaction, rolled back."""

import os

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool


@pytest.fixture(scope="session")
def engine():
    engine = create_async_engine(os.environ["ISOBENCH_SCHEMA_URL"], poolclass=NullPool)
    yield engine
    engine.sync_engine.dispose()


@pytest.fixture
async def session(engine):
    async with engine.connect() as conn:
        outer = await conn.begin()
        async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint",
                                expire_on_commit=False) as session:
            yield session
        await outer.rollback()
