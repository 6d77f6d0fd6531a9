"""A database per test: a file copy of a template that has the schema, dropped after the test."""

import itertools
import os

import asyncpg
import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

_numbers = itertools.count()


async def _admin(sql):
    url = make_url(os.environ["ISOBENCH_ADMIN_URL"])
    conn = await asyncpg.connect(user=url.username, password=url.password, database=url.database,
                                 host=url.host or url.query.get("host"),
                                 port=url.port or int(str(url.query.get("port", 5432))))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def session():
    name = f"{os.environ['ISOBENCH_CLONE_PREFIX']}{next(_numbers)}_test"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{os.environ["ISOBENCH_TEMPLATE"]}" STRATEGY FILE_COPY')
    engine = create_async_engine(make_url(os.environ["ISOBENCH_ADMIN_URL"]).set(database=name), poolclass=NullPool)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()
        await _admin(f'DROP DATABASE "{name}" WITH (FORCE)')
