"""labsupport.guard and its pytest plugin, against the real server.

Property-based (hypothesis) over database names, look-alikes included: real databases are
created with those names, every destructive operation is tried on them through a guarded
engine, and the data is counted afterwards by a separate, unguarded connection. A proxy
that aliases database names, as pgbouncer does, shows that the guard believes the server
and not the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import struct
import textwrap
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from labsupport import databases, owners, urls
from labsupport.connection import run_sync
from labsupport.pytest_plugin import guard
from labsupport.pytest_plugin.options import resolve_url
from labsupport.server import ServerInfo
from labsupport.teaching import lesson

# ---------------------------------------------------------------- names

MARKED_SUFFIXES = ["_test", "__test", "_x_test", "_2024_test"]
LOOKALIKES = [
    "test", "_TEST", "_Test", "_tesT", "_test_prod", "_tests", "_testdb", "_testing", "-test", ".test", "_test ",
    " _test ", "_test\t", "_test\n", "_test.", "_test;", '_test"', "_t\u0435st", "_\u0442est", "_tes\u0442",
    "_test\u200b", "_te\u200bst", "_\uff54\uff45\uff53\uff54", "_test\u0301", "_tést", "\uff3ftest", "_ test",
]
STEMS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
    st.sampled_from(["contest", "latest", "test_app", "app_test_prod", "TEST", "prod", "attest", "testtest"]),
)
TAILS = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=6)


@st.composite
def suffixes(draw: st.DrawFn) -> str:
    """What follows a stem: the marker, a look-alike of it, or anything at all (then maybe the marker)."""
    kind = draw(st.sampled_from(["marked", "lookalike", "lookalike", "lookalike", "random"]))
    if kind == "marked":
        return draw(st.sampled_from(MARKED_SUFFIXES))
    if kind == "lookalike":
        return draw(st.sampled_from(LOOKALIKES))
    return draw(TAILS) + draw(st.sampled_from(["", "_test"]))


def _marked(name: str) -> bool:
    """The rule, written out independently of the guard's code."""
    return len(name) > 5 and name[-5:] == "_test"


# ---------------------------------------------------------------- pure properties (no server)


@given(stem=st.text(min_size=1, max_size=20).filter(lambda s: not s.endswith("_")),
       lookalike=st.sampled_from(LOOKALIKES))
def test_a_lookalike_of_the_marker_is_never_marked(stem: str, lookalike: str) -> None:
    """(A stem ending in '_' would turn the look-alike 'test' into the real marker.)"""
    assert not guard.is_test_database(stem + lookalike)
    assert guard.is_test_database(stem + lookalike + "_test")


@given(name=st.text(max_size=30))
def test_the_marker_is_exactly_a_lower_case_suffix(name: str) -> None:
    assert guard.is_test_database(name) == _marked(name)
    if guard.is_test_database(name):
        assert not guard.is_test_database(name.upper()), "upper case must not count"
        assert not guard.is_test_database(name + " "), "trailing whitespace must not count"
        assert not guard.is_test_database(name + "_prod"), "the marker must be at the very end"


def test_the_bare_marker_and_non_strings_are_not_marked() -> None:
    assert not guard.is_test_database("_test")
    assert not guard.is_test_database(None)
    assert not guard.is_test_database(b"app_test")


_SPACE = st.sampled_from([" ", "  ", "\n", "\t", " /* c */ ", " -- c\n"])
_KEYWORD_CASES = st.sampled_from(["drop", "DROP", "Drop", "dRoP"])


@given(space=_SPACE, drop=_KEYWORD_CASES, lead=st.sampled_from(["", "SELECT 1;", "/* x */", "-- note\n"]))
def test_destructive_sql_is_found_however_it_is_written(space: str, drop: str, lead: str) -> None:
    for sql in (f"{lead}{drop}{space}TABLE users", f"{lead}{drop}{space}SCHEMA public CASCADE",
                f"{lead}TRUNCATE{space}users", f"{lead}ALTER TABLE users{space}{drop} COLUMN email",
                f"{lead}DO $$ BEGIN EXECUTE '{drop} TABLE users'; END $$", f"{lead}delete{space}FROM users"):
        assert guard.destructive_sql(sql), sql


@given(drop=_KEYWORD_CASES)
def test_the_keyword_inside_literals_comments_and_names_is_harmless(drop: str) -> None:
    for sql in (f"SELECT '{drop} TABLE users'", f'SELECT "{drop}" FROM t', f"SELECT 1 -- {drop} TABLE users",
                f"SELECT 1 /* {drop} /* nested */ TABLE */", f"SELECT E'\\' {drop} TABLE x'",
                f"SELECT {drop}_count FROM t", "DELETE FROM users WHERE id = $1", "SELECT current_database()"):
        assert guard.destructive_sql(sql) == [], sql


def test_drop_database_is_judged_by_the_database_it_drops() -> None:
    assert guard.destructive_sql('DROP DATABASE IF EXISTS "x_test" WITH (FORCE)') == [
        guard.Destructive("DROP DATABASE", "x_test")]
    assert guard.destructive_sql("drop database App_Test") == [guard.Destructive("DROP DATABASE", "app_test")]
    assert guard.destructive_sql('DROP DATABASE "App_Test"') == [guard.Destructive("DROP DATABASE", "App_Test")]


# ---------------------------------------------------------------- the real server

PRECIOUS_ROWS = 3
metadata = MetaData()
precious = Table("precious", metadata, Column("id", Integer, primary_key=True), Column("v", Text))


@pytest.fixture
def prefix(lab_server: ServerInfo) -> Iterator[str]:
    """A prefix of our own; every database under it is dropped at the end, whatever happened."""
    name = f"tg{secrets.token_hex(3)}"
    yield name
    for leftover in run_sync(databases.names(lab_server.url, name + "%")):
        run_sync(databases.drop(lab_server.url, leftover))


def _url(server: ServerInfo, database: str, **overrides: Any) -> URL:  # URL.set's own keywords
    """A URL object: no string round trip, so any name the server accepts survives."""
    return make_url(server.url).set(database=database, **overrides)


async def _make_precious(server: ServerInfo, name: str) -> None:
    await databases.create(server.url, name, replace=True)
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(_url(server, name)))
    try:
        await conn.execute("CREATE TABLE precious (id int PRIMARY KEY, v text)")
        await conn.executemany("INSERT INTO precious VALUES ($1, $2)", [(i, f"row {i}") for i in range(PRECIOUS_ROWS)])
    finally:
        await conn.close()


async def _precious_intact(server: ServerInfo, name: str) -> bool:
    """Counted over a plain asyncpg connection: the table, its column and every row still there."""
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(_url(server, name)))
    try:
        if await conn.fetchval("SELECT to_regclass('public.precious')") is None:
            return False
        return await conn.fetchval("SELECT count(v) FROM precious") == PRECIOUS_ROWS
    finally:
        await conn.close()


Op = Callable[[AsyncConnection], Awaitable[object]]
OPERATIONS: dict[str, Op] = {
    "drop_all": lambda c: c.run_sync(metadata.drop_all),
    "create_all over data": lambda c: c.run_sync(metadata.create_all),
    "DROP TABLE": lambda c: c.execute(text("DROP TABLE precious")),
    "disguised DROP": lambda c: c.exec_driver_sql('/* tidy up */ dRoP\n TABLE "precious"'),
    "TRUNCATE": lambda c: c.execute(text("TRUNCATE precious")),
    "ALTER ... DROP COLUMN": lambda c: c.execute(text("ALTER TABLE precious DROP COLUMN v")),
    "DELETE without WHERE": lambda c: c.execute(text("DELETE FROM precious")),
    "DELETE as executemany": lambda c: c.execute(text("DELETE FROM precious"), [{"n": 1}, {"n": 2}]),
    "TRUNCATE with no_parameters": lambda c: c.exec_driver_sql("TRUNCATE precious",
                                                                execution_options={"no_parameters": True}),
    "DO block": lambda c: c.execute(text("DO $$ BEGIN EXECUTE 'TRUNCATE precious'; END $$")),
    "DROP SCHEMA": lambda c: c.execute(text("DROP SCHEMA public CASCADE")),
}


async def _attempt(engine: AsyncEngine, op: Op, keep: bool) -> bool:
    """Run one operation; True if the guard let it through. ``keep`` commits what got through."""
    async with engine.connect() as conn:
        try:
            await op(conn)
        except guard.GuardError:
            await conn.rollback()
            return False
        await (conn.commit() if keep else conn.rollback())
        return True


async def _try_everything(server: ServerInfo, name: str) -> dict[str, bool]:
    """Every destructive operation on ``name`` through a guarded engine; which got through."""
    engine = guard.protect(create_async_engine(_url(server, name)))
    admin = guard.protect(create_async_engine(_url(server, "postgres"), isolation_level="AUTOCOMMIT"))
    marked = guard.is_test_database(name)
    try:
        through = {label: await _attempt(engine, op, keep=not marked) for label, op in OPERATIONS.items()}
        await engine.dispose()
        through["DROP DATABASE"] = await _attempt(
            admin, lambda c: c.exec_driver_sql(f"DROP DATABASE {databases.quote(name)} WITH (FORCE)"), keep=True)
    finally:
        await engine.dispose()
        await admin.dispose()
    return through


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stem=STEMS, suffix=suffixes())
def test_no_destructive_operation_reaches_an_unmarked_database(lab_server: ServerInfo, prefix: str,
                                                               stem: str, suffix: str) -> None:
    name = f"{prefix}_{stem}{suffix}"
    assume(len(name.encode("utf-8")) <= databases.MAX_NAME_BYTES)
    event("marked" if _marked(name) else "unmarked")

    async def example() -> None:
        await _make_precious(lab_server, name)
        try:
            through = await _try_everything(lab_server, name)
            if _marked(name):
                assert all(through.values()), f"a test database {name!r} was refused: {through}"
                assert not await databases.exists(lab_server.url, name)
            else:
                assert not any(through.values()), f"on {name!r} these got through: {through}"
                assert await _precious_intact(lab_server, name), f"data lost on {name!r}"
        finally:
            await databases.drop(lab_server.url, name)

    asyncio.run(example())


# ---------------------------------------------------------------- a URL that lies


class AliasProxy:
    """A unix-socket proxy that sends a connection to another database than the one it asked for,
    as a pgbouncer ``[databases]`` alias does. Runs its own event loop in a thread."""

    def __init__(self, server: ServerInfo, aliases: dict[str, str]) -> None:
        kw = urls.asyncpg_kwargs(server.url)
        self.upstream_host, self.port = str(kw["host"]), int(kw["port"])  # type: ignore[call-overload]  # asyncpg passes its connect keywords untyped
        self.aliases = aliases
        self.folder = str(owners.temp_dir("alias"))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None

    def url(self, server: ServerInfo, database: str) -> URL:
        return make_url(server.url).set(database=database, query={"host": self.folder, "port": str(self.port)})

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.upstream_host}/.s.PGSQL.{self.port}")
        return await asyncio.open_connection(self.upstream_host, self.port)

    def _rewrite(self, body: bytes) -> bytes:
        fields = body[4:].split(b"\x00")
        pairs = dict(zip(fields[0::2], fields[1::2], strict=False))
        pairs.pop(b"", None)
        database = pairs.get(b"database", pairs.get(b"user", b"")).decode()
        pairs[b"database"] = self.aliases.get(database, database).encode()
        payload = body[:4] + b"".join(k + b"\x00" + v + b"\x00" for k, v in pairs.items()) + b"\x00"
        return struct.pack("!I", len(payload) + 4) + payload

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_writer = None
        try:
            while True:
                size = struct.unpack("!I", await reader.readexactly(4))[0]
                body = await reader.readexactly(size - 4)
                if struct.unpack("!I", body[:4])[0] in (80877103, 80877104):  # SSL or GSS request: no
                    writer.write(b"N")
                    continue
                break
            upstream_reader, upstream_writer = await self._open_upstream()
            upstream_writer.write(self._rewrite(body))

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(ConnectionError):
                    while chunk := await src.read(65536):
                        dst.write(chunk)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if upstream_writer is not None:
                upstream_writer.close()

    def __enter__(self) -> AliasProxy:
        self.thread.start()
        path = f"{self.folder}/.s.PGSQL.{self.port}"
        self.server = asyncio.run_coroutine_threadsafe(asyncio.start_unix_server(self._handle, path), self.loop).result()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        server = self.server

        async def close() -> None:
            server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)  # waits for open connections to end

        asyncio.run_coroutine_threadsafe(close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)  # the socket file and its folder


@pytest.fixture
def real_databases(lab_server: ServerInfo, prefix: str) -> dict[str, str]:
    """Two real databases with precious data: one the server calls a test database, one not."""
    names = {"unmarked": f"{prefix}_real_dev", "marked": f"{prefix}_real_test"}
    for name in names.values():
        run_sync(_make_precious(lab_server, name))
    return names


def test_a_guarded_engine_turns_on_no_engine_events(lab_server: ServerInfo) -> None:
    """The guard listens on the dialect: an engine with an engine event listened for dispatches every
    engine event on every statement and transaction step, a cost each test of the plugin's chain pays."""
    engine = guard.protect(create_async_engine(_url(lab_server, "postgres")))
    try:
        assert guard.is_protected(engine) and engine.sync_engine.dialect._has_events
        assert not engine.sync_engine._has_events
    finally:
        guard.unprotect(engine)
        engine.sync_engine.dispose()


async def test_the_guard_asks_the_server_not_the_url(lab_server: ServerInfo, real_databases: dict[str, str]) -> None:
    dev = real_databases["unmarked"]
    with AliasProxy(lab_server, {"app_test": dev}) as proxy:
        lying = proxy.url(lab_server, "app_test")
        assert guard.is_test_database(lying.database), "the URL claims a test database"
        assert await guard.current_database(lying.render_as_string(hide_password=False)) == dev
        with pytest.raises(guard.GuardError, match=repr(dev)):
            await guard.check_url(lying.render_as_string(hide_password=False))
        engine = guard.protect(create_async_engine(lying))
        try:
            with pytest.raises(guard.GuardError, match=f"drop_all on database {dev!r}"):
                async with engine.begin() as conn:
                    await conn.run_sync(metadata.drop_all)
        finally:
            await engine.dispose()
    assert await _precious_intact(lab_server, dev)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alias=st.builds(lambda stem, suffix: stem + suffix, STEMS, suffixes()), really=st.sampled_from(["unmarked", "marked"]))
def test_whatever_a_url_says_the_server_decides(lab_server: ServerInfo, real_databases: dict[str, str],
                                                alias: str, really: str) -> None:
    assume(alias not in real_databases.values() and len(alias.encode()) <= databases.MAX_NAME_BYTES)
    real = real_databases[really]
    event(f"URL {'marked' if _marked(alias) else 'unmarked'}, server {really}")

    async def example() -> None:
        with AliasProxy(lab_server, {alias: real}) as proxy:
            url = proxy.url(lab_server, alias)
            engine = guard.protect(create_async_engine(url))
            try:
                through = {label: await _attempt(engine, OPERATIONS[label], keep=really == "unmarked")
                           for label in ("drop_all", "TRUNCATE", "DROP TABLE")}
            finally:
                await engine.dispose()
        assert all(through.values()) if really == "marked" else not any(through.values()), (alias, real, through)
        assert await _precious_intact(lab_server, real)

    asyncio.run(example())


async def test_everywhere_guards_every_engine_for_the_block_only(lab_server: ServerInfo,
                                                                real_databases: dict[str, str]) -> None:
    dev = real_databases["unmarked"]
    engine = create_async_engine(_url(lab_server, dev))
    try:
        with guard.everywhere():
            assert guard.is_protected(engine)
            assert not await _attempt(engine, OPERATIONS["TRUNCATE"], keep=True)
        assert not guard.is_protected(engine)
        guard.protect(engine)
        guard.unprotect(engine)
        assert not guard.is_protected(engine)
        assert await _attempt(engine, OPERATIONS["TRUNCATE"], keep=False), "unguarded, it runs (rolled back)"
    finally:
        await engine.dispose()
    assert await _precious_intact(lab_server, dev)


# ---------------------------------------------------------------- the pytest plugin


INERT = """
    from sqlalchemy.ext.asyncio import create_async_engine

    from labsupport.pytest_plugin import guard


    def test_the_guard_is_loaded_and_guards_nothing_of_the_app(pytestconfig):
        assert pytestconfig.pluginmanager.has_plugin("labsupport"), "labsupport's pytest11 plugin did not load"
        assert pytestconfig.getoption("lab_guard_url", "no such option") is None, "the guard's flag is not there"
        assert not guard.is_protected(create_async_engine("postgresql+asyncpg://app@/app?host=/nowhere"))
"""


def _suite(folder: Path, ini: str = "", test: str = "def test_runs():\n    pass\n") -> Path:
    (folder / "pytest.ini").write_text("[pytest]\n" + ini)
    (folder / "test_it.py").write_text(textwrap.dedent(test))
    return folder


def test_the_plugin_is_inert_unless_configured(tmp_path: Path) -> None:
    result = lesson.run_suite(_suite(tmp_path, test=INERT))
    assert result.ok and [t.outcome for t in result.tests] == ["passed"], result.output
    assert "labsupport guard" not in result.output, result.output


def test_the_plugin_enabled_without_a_source_says_what_to_set(tmp_path: Path) -> None:
    result = lesson.run_suite(_suite(tmp_path), "-p", "labsupport.pytest_plugin.guard_hooks")
    assert result.returncode == 4 and not result.tests
    assert "--lab-guard-url" in result.output


def test_the_plugin_stops_the_session_before_any_test(lab_server: ServerInfo, real_databases: dict[str, str],
                                                      tmp_path: Path) -> None:
    dev = real_databases["unmarked"]
    with AliasProxy(lab_server, {"app_test": dev}) as proxy:
        lying = proxy.url(lab_server, "app_test").render_as_string(hide_password=False)
        result = lesson.run_suite(_suite(tmp_path, "lab_guard_url = env:APP_URL\n"), env={"APP_URL": lying})
    assert result.returncode == 4 and not result.tests, result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("ERROR: "))
    assert repr(dev) in line and "not a test database" in line
    assert run_sync(_precious_intact(lab_server, dev))


def test_the_plugin_lets_a_test_database_through_whatever_its_url_says(
        lab_server: ServerInfo, real_databases: dict[str, str], tmp_path: Path) -> None:
    with AliasProxy(lab_server, {"production": real_databases["marked"]}) as proxy:
        url = proxy.url(lab_server, "production").render_as_string(hide_password=False)
        result = lesson.run_suite(_suite(tmp_path), "--lab-guard-url", "env:APP_URL", env={"APP_URL": url})
    assert result.ok and [t.outcome for t in result.tests] == ["passed"], result.output
    assert repr(real_databases["marked"]) in result.output, "the guard did not ask the server: " + result.output


def test_guarded_engines_refuse_in_a_nested_run(lab_server: ServerInfo, real_databases: dict[str, str],
                                                 tmp_path: Path) -> None:
    (tmp_path / "test_drop.py").write_text(textwrap.dedent("""
        import asyncio, os
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        def test_drop():
            async def go():
                engine = create_async_engine(os.environ["APP_URL"])  # made in the test: guarded anyway
                try:
                    async with engine.begin() as conn:
                        await conn.execute(text("DROP TABLE precious"))
                finally:
                    await engine.dispose()
            asyncio.run(go())
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\nlab_guard_engines = true\n")
    url = _url(lab_server, real_databases["unmarked"]).render_as_string(hide_password=False)
    result = lesson.run_suite(tmp_path, env={"APP_URL": url})
    assert [t.outcome for t in result.tests] == ["failed"] and "GuardError" in result.tests[0].message
    assert run_sync(_precious_intact(lab_server, real_databases["unmarked"]))


def test_resolve_url_reads_env_modules_engines_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "guardapp.py").write_text(textwrap.dedent("""
        from sqlalchemy.ext.asyncio import create_async_engine
        URL = "postgresql+asyncpg://u@/from_string_test?host=/tmp"
        def url():
            return "postgresql+asyncpg://u@/from_callable_test?host=/tmp"
        engine = create_async_engine("postgresql+asyncpg://u@/from_engine_test?host=/tmp")
        nothing = None
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GUARD_APP_URL", "postgresql+asyncpg://u@/from_env_test?host=/tmp")
    assert resolve_url("env:GUARD_APP_URL").endswith("/from_env_test?host=/tmp")
    assert "from_string_test" in resolve_url("guardapp:URL")
    assert "from_callable_test" in resolve_url("guardapp:url")
    assert "from_engine_test" in resolve_url("guardapp:engine")
    assert resolve_url("postgresql://u@h/x") == "postgresql://u@h/x"
    from labsupport.errors import LabError

    for bad, match in [("env:GUARD_NOT_SET", "not set"), ("guardapp:nothing", "NoneType"),
                       ("guardapp:missing", "no attribute"), ("no_such_module_xyz:x", "cannot import"),
                       ("nonsense", "env:VARIABLE")]:
        monkeypatch.delenv("GUARD_NOT_SET", raising=False)
        with pytest.raises(LabError, match=match):
            resolve_url(bad)


def test_protect_refuses_what_it_cannot_judge() -> None:
    from labsupport.errors import LabError

    with pytest.raises(LabError, match="PostgreSQL only"):
        guard.protect(create_async_engine("sqlite+aiosqlite:///:memory:"))
    with pytest.raises(LabError, match="needs a SQLAlchemy engine"):
        guard.protect("postgresql://x")


# ---------------------------------------------------------------- the test database, and the plugin's engines by default

APP_SUITE = {
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\nasyncio_mode = auto\n"
                  "asyncio_default_fixture_loop_scope = function\n",
    "conftest.py": """
        import os

        import pytest
        from sqlalchemy import MetaData
        from sqlalchemy.ext.asyncio import create_async_engine

        @pytest.fixture(autouse=True)
        async def fresh_schema():  # an ordinary suite's set-up: drop everything, on the URL it is given
            engine = create_async_engine(os.environ["LAB_TEST_DATABASE_URL"])
            metadata = MetaData()
            async with engine.begin() as conn:
                await conn.run_sync(metadata.reflect)
                await conn.run_sync(metadata.drop_all)
            await engine.dispose()
            yield
    """,
    "test_app.py": "def test_runs():\n    pass\n",
}


@pytest.fixture
def by_hand(lab_server: ServerInfo) -> Iterator[Callable[[str], str]]:
    """Make a database as a person would (no owner mark) with the precious rows; removed by hand afterwards."""
    made: list[str] = []

    def make(name: str) -> str:
        made.append(name)
        run_sync(_fetch(lab_server, f"CREATE DATABASE {databases.quote(name)}"))
        run_sync(_fill_precious(lab_server, name))
        return name

    yield make
    for name in made:
        run_sync(_fetch(lab_server, f"DROP DATABASE IF EXISTS {databases.quote(name)} WITH (FORCE)"))


async def _fetch(server: ServerInfo, sql: str) -> None:
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(server.url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _fill_precious(server: ServerInfo, name: str) -> None:
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(_url(server, name)))
    try:
        await conn.execute("CREATE TABLE precious (id int PRIMARY KEY, v text)")
        await conn.executemany("INSERT INTO precious VALUES ($1, $2)", [(i, f"row {i}") for i in range(PRECIOUS_ROWS)])
    finally:
        await conn.close()


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, body in files.items():
        (folder / name).write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return folder


def test_a_test_database_url_naming_a_real_database_stops_the_run_and_keeps_its_rows(
        lab_server: ServerInfo, by_hand: Callable[[str], str], tmp_path: Path) -> None:
    app = by_hand(f"app_{secrets.token_hex(3)}")
    url = _url(lab_server, app).render_as_string(hide_password=False)
    suite = _write(tmp_path, APP_SUITE)
    for workers in ("0", "2"):
        result = lesson.run_suite(suite, "-n", workers, env={"LAB_TEST_DATABASE_URL": url}, scenarios=False)
        assert result.returncode == 4 and result.tests == [], (workers, result.output[-2000:])
        errors = [ln for ln in result.output.splitlines() if ln.startswith("ERROR: ")]
        assert len(errors) == 1 and f"LAB_TEST_DATABASE_URL ({urls.redact(url)}) names the database {app!r}" in errors[0]
        assert "not a test database" in errors[0] and "no test ran" in errors[0], errors
        assert run_sync(_precious_intact(lab_server, app)), workers
    ini = APP_SUITE["pytest.ini"] + "lab_database_url = env:MY_TEST_URL\n"
    _write(tmp_path, {"pytest.ini": ini})
    result = lesson.run_suite(suite, env={"MY_TEST_URL": url, "LAB_TEST_DATABASE_URL": url}, scenarios=False)
    assert result.returncode == 4 and "lab_database_url (ini lab_database_url)" in result.output, result.output[-2000:]
    assert run_sync(_precious_intact(lab_server, app))


def test_a_test_database_is_one_named_test_or_one_this_run_made(lab_server: ServerInfo, prefix: str,
                                                                 by_hand: Callable[[str], str], tmp_path: Path) -> None:
    named = by_hand(f"{prefix}_app_test")
    made = f"{prefix}_scratch"
    run_sync(databases.create(lab_server.url, made))  # marked with this process, which the suite's run inherits
    suite = _write(tmp_path, APP_SUITE)
    for name in (named, made):
        url = _url(lab_server, name).render_as_string(hide_password=False)
        result = lesson.run_suite(suite, env={"LAB_TEST_DATABASE_URL": url}, scenarios=False)
        assert result.ok, (name, result.output[-2000:])
    someone = owners.Owner("another-host", "boot", 1, "1").comment
    run_sync(_fetch(lab_server, f"COMMENT ON DATABASE {databases.quote(made)} IS '{someone}'"))
    url = _url(lab_server, made).render_as_string(hide_password=False)
    result = lesson.run_suite(suite, env={"LAB_TEST_DATABASE_URL": url}, scenarios=False)
    assert result.returncode == 4 and "this run did not create it" in result.output, result.output[-2000:]


PLUGIN_ENGINE_SUITE = {
    "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\nasyncio_mode = auto\n"
                  "asyncio_default_fixture_loop_scope = function\n",
    "conftest.py": """
        import os

        import pytest

        @pytest.fixture(scope="session")
        def lab_database_url():  # a fixture of the project's own: the start-of-run check leaves it to the engines
            return os.environ["APP_URL"]
    """,
    "test_drop.py": """
        from sqlalchemy import Column, Integer, MetaData, Table

        metadata = MetaData()
        Table("precious", metadata, Column("id", Integer, primary_key=True))

        async def test_drop_all(lab_engine):
            async with lab_engine.begin() as conn:
                await conn.run_sync(metadata.drop_all)
    """,
}


def test_the_plugins_engines_refuse_drop_all_on_a_non_test_database_unless_turned_off(
        lab_server: ServerInfo, by_hand: Callable[[str], str], tmp_path: Path) -> None:
    dev = by_hand(f"dev_{secrets.token_hex(3)}")
    env = {"APP_URL": _url(lab_server, dev).render_as_string(hide_password=False)}
    suite = _write(tmp_path, PLUGIN_ENGINE_SUITE)

    result = lesson.run_suite(suite, env=env, scenarios=False)
    assert [t.outcome for t in result.tests] == ["failed"], result.output[-2000:]
    assert f"labsupport.guard refused drop_all on database {dev!r}" in result.tests[0].message
    assert run_sync(_precious_intact(lab_server, dev))

    result = lesson.run_suite(suite, "-o", "lab_guard_engines=false", env=env, scenarios=False)
    assert result.ok, result.output[-2000:]
    assert not run_sync(_precious_intact(lab_server, dev)), "unguarded, drop_all ran"


def test_lab_guard_engines_takes_true_false_or_nothing(tmp_path: Path) -> None:
    result = lesson.run_suite(_suite(tmp_path, "lab_guard_engines = maybe\n"), scenarios=False)
    assert result.returncode == 4 and "lab_guard_engines is 'maybe'" in result.output, result.output[-2000:]
