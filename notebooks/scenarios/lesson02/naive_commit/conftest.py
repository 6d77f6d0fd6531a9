"""The naive cure for symptom B: commit in the fixture, so the routes' connections see the rows."""

import os
import uuid

import pytest_asyncio
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from flashcards.api import app
from flashcards.models import User

TEST_DATABASE_URL = os.environ["LAB_TEST_DATABASE_URL"]


@pytest_asyncio.fixture
async def db_session():
    engine = create_async_engine(TEST_DATABASE_URL)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    async with factory() as session:
        yield session
    await engine.dispose()


@pytest_asyncio.fixture
async def user(db_session):
    user = User(email=f"user-{uuid.uuid4().hex[:8]}@example.org", display_name="Test user")
    db_session.add(user)
    await db_session.commit()  # the cure: now every connection sees it ... for good
    return user


@pytest_asyncio.fixture
async def client():
    async with LifespanManager(app) as manager:
        async with AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://test") as client:
            yield client
