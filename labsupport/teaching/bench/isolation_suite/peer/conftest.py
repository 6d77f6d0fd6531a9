"""The peer: pytest-postgresql's ``postgresql`` fixture (a database cloned from its template per test),
``postgresql_noproc`` pointed at an existing server, plus an async engine on the database it gives."""

import os

import pytest
from pytest_postgresql import factories
from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

postgresql_noproc = factories.postgresql_noproc(dbname=os.environ["ISOBENCH_PEER_DB"],
                                                load=["isobench_models:load_schema"])
postgresql = factories.postgresql("postgresql_noproc")


def _async_url(info):
    on_socket = info.host.startswith("/")
    return URL.create("postgresql+asyncpg", username=info.user, password=info.password or None,
                      database=info.dbname, host=None if on_socket else info.host,
                      port=None if on_socket else info.port,
                      query={"host": info.host, "port": str(info.port)} if on_socket else {})


@pytest.fixture
async def session(postgresql):
    engine = create_async_engine(_async_url(postgresql.info))
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            yield session
    finally:
        await engine.dispose()
