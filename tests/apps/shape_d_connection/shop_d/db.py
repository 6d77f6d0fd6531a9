import os
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

DATABASE_URL = os.environ.get("SHOP_DATABASE_URL", "postgresql+asyncpg://localhost/shop")
engine = create_async_engine(DATABASE_URL)


async def get_connection() -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:  # the routes commit themselves; the rest is rolled back
        yield conn


def get_engine() -> AsyncEngine:
    return engine
