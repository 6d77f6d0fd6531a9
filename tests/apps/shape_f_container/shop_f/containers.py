from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .services import Library, Stats


class Container(containers.DeclarativeContainer):
    wiring_config = containers.WiringConfiguration(modules=["shop_f.routes"])

    config = providers.Configuration()
    engine = providers.Singleton(create_async_engine, config.database_url)
    session_factory = providers.Singleton(async_sessionmaker, engine, expire_on_commit=False)
    library = providers.Factory(Library, session_factory=session_factory)
    stats = providers.Factory(Stats, engine=engine)
