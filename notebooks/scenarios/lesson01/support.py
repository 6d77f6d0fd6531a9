"""What lesson 01's notebook does in more than a line: seed and fingerprint the dev database,
visit the app, run the lesson's suites with their environment and compare SQLite with PostgreSQL.
The exercises' checks live in labsupport.teaching.exercises.lesson01."""

from __future__ import annotations

import hashlib
import os
import shutil
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from flashcards import seed as seed_module
from flashcards import settings
from flashcards.models import Base
from labsupport import databases, owners, schema
from labsupport.teaching import lesson

HERE = Path(__file__).resolve().parent
BUGGY, SQLITE, FIXED, EXERCISE = (HERE / s for s in ("buggy", "sqlite", "fixed", "exercise"))
TABLES = [t.name for t in Base.metadata.sorted_tables]  # users, decks, cards


# ---------------------------------------------------------------- the developer's database


def engine(url: str) -> AsyncEngine:
    """A short-lived engine that keeps no connection open (so databases can be cloned or dropped)."""
    return create_async_engine(url, poolclass=NullPool)


async def seed(url: str) -> dict[str, int]:
    """Build the app's schema on ``url`` (dropping a previous one) and insert the known dev data.

    The developer's database keeps what a commit acknowledged (``keep_commits``), unlike the
    lab's throwaway test databases."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    await keep_commits(url)
    e = engine(url)
    try:
        async with e.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
        async with async_sessionmaker(e, expire_on_commit=False)() as session:
            return await seed_module.seed(session)
    finally:
        await e.dispose()


async def keep_commits(url: str) -> None:
    """``synchronous_commit = on`` for every later session on ``url``'s database: the lab's server runs
    with it off (fast, for throwaway data), which can lose rows whose COMMIT had returned."""
    e = engine(url)
    try:
        async with e.begin() as conn:
            name = await conn.scalar(text("SELECT current_database()"))
            await conn.execute(text(f"ALTER DATABASE {databases.quote(name)} SET synchronous_commit = on"))
    finally:
        await e.dispose()


@dataclass(frozen=True)
class Snapshot:
    """Rows per table and a checksum of every row: equal checksums mean identical data."""

    counts: dict[str, int]
    checksum: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def snapshot(url: str) -> Snapshot:
    counts = await schema.row_counts(url, TABLES)
    digest = hashlib.sha256()
    e = engine(url)
    try:
        async with e.connect() as conn:
            for table in TABLES:
                if counts[table]:
                    rows = await conn.scalar(text(
                        f"SELECT md5(string_agg(t::text, E'\\n' ORDER BY t::text)) FROM \"{table}\" AS t"))
                else:
                    rows = "-"
                digest.update(f"{table}:{rows};".encode())
    finally:
        await e.dispose()
    return Snapshot(counts=counts, checksum=digest.hexdigest()[:16])


def compare(before: Snapshot, after: Snapshot) -> list[tuple[str, object, object]]:
    """Rows for a before/after table: each table's count, the total and the checksum."""
    rows: list[tuple[str, object, object]] = [(t, before.counts[t], after.counts[t]) for t in TABLES]
    rows.append(("**all tables**", before.total, after.total))
    rows.append(("checksum of the rows", f"`{before.checksum}`", f"`{after.checksum}`"))
    return rows


async def drop_all(e: AsyncEngine) -> None:
    """What ``drop_db()`` does, on any engine."""
    async with e.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)


# ---------------------------------------------------------------- visiting the app


@dataclass
class Visit:
    status: int
    body: str
    error: str = ""

    def __str__(self) -> str:
        return f"{self.status} {self.body}" + (f"\n  server log: {self.error}" if self.error else "")


async def visit(url: str, path: str) -> Visit:
    """GET ``path`` from the app running on ``url``, as a browser would see it (a 500 is an answer)."""
    from asgi_lifespan import LifespanManager
    from httpx import ASGITransport, AsyncClient

    from flashcards.api import app

    errors: list[BaseException] = []

    async def recording(scope, receive, send):
        try:
            await app(scope, receive, send)
        except Exception as exc:  # what the server's log would show
            errors.append(exc)
            raise

    previous = os.environ.get(settings.ENV_VAR)
    os.environ[settings.ENV_VAR] = url
    try:
        async with LifespanManager(app):
            transport = ASGITransport(app=recording, raise_app_exceptions=False)
            async with AsyncClient(transport=transport, base_url="http://dev") as client:
                response = await client.get(path)
    finally:
        if previous is None:
            os.environ.pop(settings.ENV_VAR, None)
        else:
            os.environ[settings.ENV_VAR] = previous
    error = ""
    if errors:
        lines = str(errors[-1]).strip().splitlines()
        error = f"{type(errors[-1]).__name__}: {lines[0] if lines else ''}"
    return Visit(response.status_code, response.text, error)


# ---------------------------------------------------------------- running the suites


@dataclass
class Runner:
    """Runs the lesson's suites as the developer would: FLASHCARDS_DATABASE_URL names the dev database."""

    env: dict[str, str]
    report: Path = field(default_factory=lambda: owners.temp_dir("lab01") / "database.txt")

    def __post_init__(self) -> None:
        # removed when the runner goes or the kernel exits; a killed kernel's is reaped by the next start
        weakref.finalize(self, shutil.rmtree, self.report.parent, ignore_errors=True)

    @classmethod
    def for_lab(cls, lab: lesson.Lab, dev: str) -> Runner:
        return cls(env={
            settings.ENV_VAR: lab.url(dev),  # the developer's shell
            "LESSON01_ADMIN_URL": lab.admin_url,
            "LESSON01_PREFIX": lab.prefix,
            "LESSON01_TEMPLATE": lab.name("template"),
        })

    def run(self, suite: Path, *args: str) -> lesson.SuiteResult:
        self.report.unlink(missing_ok=True)
        return lesson.run_suite(suite, *args, env={**self.env, "LESSON01_REPORT": str(self.report)})

    @property
    def database_seen(self) -> str | None:
        """What ``current_database()`` said inside the last suite run (None if that test did not run)."""
        return self.report.read_text(encoding="utf-8") if self.report.exists() else None


def refusal(result: lesson.SuiteResult) -> str:
    """The one line pytest printed when a session was stopped at its start ('' if it was not)."""
    for line in result.output.splitlines():
        if line.startswith("ERROR: "):
            return line.removeprefix("ERROR: ")
    return ""


def stopped_at_start(result: lesson.SuiteResult, database: str) -> bool:
    """A usage error (exit 4) before any test ran, naming the database."""
    return result.returncode == 4 and not result.tests and repr(database) in refusal(result)


def refused_by_engines(result: lesson.SuiteResult, database: str) -> bool:
    """Every test stopped by the guard at setup, each message naming the database."""
    return bool(result.tests) and all(
        t.outcome == "error" and "GuardError" in t.message and repr(database) in t.message for t in result.tests)


# ---------------------------------------------------------------- SQLite against PostgreSQL


def divergence(postgres: lesson.SuiteResult, sqlite: lesson.SuiteResult) -> str:
    """The tests that passed on PostgreSQL and not on SQLite, with what SQLite said (one string, recorded)."""
    return "; ".join(f"{name}: {message}" for name, _, message in divergence_rows(postgres, sqlite))


def divergence_rows(postgres: lesson.SuiteResult, sqlite: lesson.SuiteResult) -> list[tuple[str, str, str]]:
    """(test, on PostgreSQL, on SQLite) for each test that passed on PostgreSQL and not on SQLite."""
    passed = {t.name for t in postgres.tests if t.outcome == "passed"}
    return [(t.name, "passed", f"{t.outcome}: {lesson.shorten(t.message, 240)}")
            for t in sqlite.tests if t.name in passed and t.outcome != "passed"]


async def decks_columns(postgres_url: str) -> list[tuple[str, str, str]]:
    """The ``decks`` table as each database built it from the same models: (column, PostgreSQL, SQLite)."""
    pg = {col: (typ, default) for table, col, typ, default in await schema.columns(postgres_url) if table == "decks"}
    lite = create_async_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with lite.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            ddl = await conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'decks'"))
            info = (await conn.execute(text("PRAGMA table_info(decks)"))).all()
    finally:
        await lite.dispose()
    checks = "CHECK" in ddl.upper()
    rows = []
    for _, col, typ, _notnull, default, _pk in info:
        pg_type, pg_default = pg.get(col, ("-", ""))
        sqlite_cell = f"{typ}{' default ' + default if default else ''}"
        if col == "visibility" and not checks:
            sqlite_cell += " (no CHECK: any text goes in)"
        rows.append((col, f"{pg_type}{' default ' + pg_default if pg_default else ''}", sqlite_cell))
    return rows


# ---------------------------------------------------------------- what the exercise's check needs


async def ensure_dev(lab: lesson.Lab) -> str:
    """The developer's database, seeded, unless it exists already (after a clean-up or a restart)."""
    name = lab.name("dev")
    if not await databases.exists(lab.admin_url, name):
        await lab.create_database("dev")
        await seed(lab.url(name))
        print(f"The dev database {name!r} (section 1) was missing: made and seeded it now.")
    return name


async def ensure_template(lab: lesson.Lab) -> str:
    """The template with the app's schema (section 4), unless it exists already."""
    name = lab.name("template")
    if not await databases.exists(lab.admin_url, name):
        await lab.create_database("template")
        await schema.create_all(lab.url(name), Base.metadata)
        print(f"The template {name!r} (section 3) was missing: made it now, with the app's schema.")
    return name
