import os
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from .models import Base

engine = create_async_engine(os.environ.get("SHOP_DATABASE_URL", "postgresql+asyncpg://localhost/shop"))
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session_maker() as session:
        yield session


def schema_sql() -> list[str]:
    """What the database needs before create_all: the models' schemas, and citext."""
    schemas = sorted({t.schema for t in Base.metadata.tables.values() if t.schema})
    return [f"CREATE SCHEMA {name}" for name in schemas] + ["CREATE EXTENSION citext"]
