import os

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

engine = create_async_engine(os.environ.get("SHOP_DATABASE_URL", "postgresql+asyncpg://localhost/shop"))
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)
