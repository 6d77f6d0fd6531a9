"""loop_scope="session" on the fixture, but not on the tests: the engine's loop is not theirs."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_fixture_loop_only_1(engine_session_loop: AsyncEngine) -> None:
    async with engine_session_loop.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1


async def test_fixture_loop_only_2(engine_session_loop: AsyncEngine) -> None:
    async with engine_session_loop.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
