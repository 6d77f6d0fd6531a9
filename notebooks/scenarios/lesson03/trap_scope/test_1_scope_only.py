"""scope="session" alone: pytest-asyncio 1.x refuses to run a session fixture in a function loop."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_scope_only_1(engine_cached: AsyncEngine) -> None:
    async with engine_cached.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1


async def test_scope_only_2(engine_cached: AsyncEngine) -> None:
    async with engine_cached.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
