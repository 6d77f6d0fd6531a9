"""Schemas: build an app's tables in a database (the plugin's template, the lessons) and describe what is there."""

from __future__ import annotations

import inspect
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["create_all", "build", "ddl", "StatementFailed", "run_statements", "columns", "row_counts"]


async def create_all(url: str, metadata: MetaData, **engine_options: Any) -> None:
    """``metadata.create_all`` on one database, through a short-lived engine."""
    engine = create_async_engine(url, poolclass=NullPool, **engine_options)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


async def build(url: str, schema: Any, **engine_options: Any) -> None:
    """Build a schema in one database: a MetaData (``create_all``) or a callable(url), sync or async."""
    if isinstance(schema, MetaData):
        await create_all(url, schema, **engine_options)
        return
    result = schema(url)
    if inspect.isawaitable(result):
        await result


def ddl(metadata: MetaData) -> list[str]:
    """Every statement ``create_all`` would send to PostgreSQL, in order, compiled without a server.

    What the statements say is what the tables become, so a hash of them changes exactly when the
    schema built from ``metadata`` would (SQLAlchemy's documented mock engine, no connection)."""
    from sqlalchemy import create_mock_engine

    statements: list[str] = []

    def collect(sql: Any, *multiparams: Any, **params: Any) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)).strip())

    engine = create_mock_engine("postgresql+asyncpg://", collect)
    metadata.create_all(engine, checkfirst=False)
    return statements


class StatementFailed(Exception):
    """One of ``run_statements``'s statements failed: which one, and the server's own words."""

    def __init__(self, index: int, statement: str, reason: str) -> None:
        super().__init__(f"statement {index + 1} ({statement!r}) failed: {reason}")
        self.index, self.statement, self.reason = index, statement, reason


async def run_statements(url: str, statements: list[str] | tuple[str, ...]) -> None:
    """Run SQL statements one by one on one database, each on its own as psql would (asyncpg, no
    SQLAlchemy); the first that fails stops the rest (``StatementFailed`` names it)."""
    import asyncpg

    from .connection import connect

    conn = await connect(url)
    try:
        for index, statement in enumerate(statements):
            try:
                await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                raise StatementFailed(index, statement, str(exc).splitlines()[0]) from None
    finally:
        await conn.close()


async def columns(url: str, schema: str = "public") -> list[tuple[str, str, str, str]]:
    """(table, column, type, default) for every column, as the server reports them."""
    query = text(
        "SELECT table_name, column_name, "
        "CASE WHEN data_type = 'USER-DEFINED' THEN udt_name ELSE data_type END, "
        "coalesce(column_default, '') FROM information_schema.columns "
        "WHERE table_schema = :schema ORDER BY table_name, ordinal_position"
    )
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(query, {"schema": schema})).all()]
    finally:
        await engine.dispose()


async def row_counts(url: str, tables: list[str]) -> dict[str, int]:
    """Rows per table; a table that does not exist counts as 0."""
    engine = create_async_engine(url, poolclass=NullPool)
    counts: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            present = set((await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))).scalars())
            for table in tables:
                if table in present:
                    counts[table] = int((await conn.execute(text(f'SELECT count(*) FROM "{table}"'))).scalar_one())
                else:
                    counts[table] = 0
    finally:
        await engine.dispose()
    return counts
