from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .config import settings

engine = create_async_engine(settings.database_url)
session_factory = async_sessionmaker(engine, expire_on_commit=False)


async def get_session_factory():  # no annotation: lab_session_shape = "sessionmaker" says what it yields
    yield session_factory
