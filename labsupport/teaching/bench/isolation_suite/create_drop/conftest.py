"""The tutorial favourite: create_all before each test and drop_all after it, on an empty database."""

import os

import pytest
from isobench_models import Base
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool


@pytest.fixture(scope="session")
def engine():
    engine = create_async_engine(os.environ["ISOBENCH_EMPTY_URL"], poolclass=NullPool)
    yield engine
    engine.sync_engine.dispose()


@pytest.fixture
async def session(engine):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
