"""Symptom A fixed the obvious way: the client now runs the app's lifespan (asgi-lifespan).

The fixture still makes its own engine and factory, as before.
"""

import os

import pytest_asyncio
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from lesson02 import support as probe
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flashcards.api import app

TEST_DATABASE_URL = os.environ["LAB_TEST_DATABASE_URL"]
app.include_router(probe.router)  # GET /_lab/backend: which connection do the routes use?


@pytest_asyncio.fixture
async def db_session():
    engine = create_async_engine(TEST_DATABASE_URL)  # not the app's engine
    factory = async_sessionmaker(engine, expire_on_commit=False)  # not the app's factory
    async with factory() as session:
        yield session
    await engine.dispose()


@pytest_asyncio.fixture
async def client():
    async with LifespanManager(app) as manager:  # startup: db.configure(FLASHCARDS_DATABASE_URL)
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client:
            yield client
