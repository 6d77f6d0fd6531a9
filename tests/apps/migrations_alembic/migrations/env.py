"""The app's migration environment: its URL comes from the app's settings, as in production.

When a program hands in a connection (``config.attributes["connection"]``, the Alembic cookbook's
"Sharing a Connection across one or more programmatic migration commands"), the migrations run on
that connection instead: labsupport's plugin hands in the test template's.
"""
import asyncio
from logging.config import fileConfig

from alembic import context
from shop_m.config import settings
from shop_m.models import Base
from sqlalchemy.ext.asyncio import create_async_engine

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)
target_metadata = Base.metadata


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = create_async_engine(settings.database_url)
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


def run_migrations_online():
    connection = config.attributes.get("connection", None)
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    context.configure(url=settings.database_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
