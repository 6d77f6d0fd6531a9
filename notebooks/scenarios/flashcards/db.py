"""The app's global engine and session factory, made in the lifespan, as many teams write it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .models import Base

engine: AsyncEngine | None = None
async_session_maker: async_sessionmaker[AsyncSession] | None = None


def configure(url: str, **engine_options: Any) -> AsyncEngine:
    """Build the global engine and session factory (the app's lifespan calls this).

    ``engine_options`` go to ``create_async_engine`` (tests pass e.g. ``poolclass=NullPool``).
    """
    global engine, async_session_maker
    engine = create_async_engine(url, **engine_options)
    async_session_maker = async_sessionmaker(engine, expire_on_commit=False)
    return engine


async def dispose() -> None:
    global engine, async_session_maker
    if engine is not None:
        await engine.dispose()
    engine, async_session_maker = None, None


async def init_db() -> None:
    """Create every table (and the enum type) on the configured database."""
    assert engine is not None, "call configure() first"
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


async def drop_db() -> None:
    """Drop every table: fine on a test database, a disaster on anything else."""
    assert engine is not None, "call configure() first"
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


async def get_session() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one session per request from the global factory."""
    if async_session_maker is None:
        raise RuntimeError("Database session factory not initialized")
    async with async_session_maker() as session:
        yield session
