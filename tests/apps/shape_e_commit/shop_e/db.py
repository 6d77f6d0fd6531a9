import os
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine(os.environ.get("SHOP_DATABASE_URL", "postgresql+asyncpg://localhost/shop"))
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
EVENTS: list[str] = []  # what get_db did after its yield, request by request


async def get_db() -> AsyncIterator[AsyncSession]:
    """One session per request: committed after the route returns, rolled back if it raised."""
    session = SessionLocal()
    try:
        yield session
        await session.commit()
        EVENTS.append("commit")
    except Exception:
        await session.rollback()
        EVENTS.append("rollback")
        raise
    finally:
        await session.close()
        EVENTS.append("close")
