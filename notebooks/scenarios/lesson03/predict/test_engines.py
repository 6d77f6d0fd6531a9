"""Each engine used by two tests in a row; each test runs in its own event loop."""

from sqlalchemy import text


async def select_one(engine):
    async with engine.connect() as connection:
        return await connection.scalar(text("SELECT 1"))


async def test_plain_engine_1(plain_engine):
    assert await select_one(plain_engine) == 1


async def test_plain_engine_2(plain_engine):
    assert await select_one(plain_engine) == 1


async def test_session_loop_engine_1(session_loop_engine):
    assert await select_one(session_loop_engine) == 1


async def test_session_loop_engine_2(session_loop_engine):
    assert await select_one(session_loop_engine) == 1


async def test_engine_per_test_1(engine_per_test):
    assert await select_one(engine_per_test) == 1


async def test_engine_per_test_2(engine_per_test):
    assert await select_one(engine_per_test) == 1
