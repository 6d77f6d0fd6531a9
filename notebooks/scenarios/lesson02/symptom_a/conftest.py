"""The end-to-end suite as the team first wrote it: the fixture makes its OWN engine and factory."""

import os

import pytest_asyncio
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flashcards.api import app

TEST_DATABASE_URL = os.environ["LAB_TEST_DATABASE_URL"]


@pytest_asyncio.fixture
async def db_session():
    engine = create_async_engine(TEST_DATABASE_URL)  # not the app's engine
    factory = async_sessionmaker(engine, expire_on_commit=False)  # not the app's factory
    async with factory() as session:
        yield session
    await engine.dispose()


@pytest_asyncio.fixture
async def client():
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client
