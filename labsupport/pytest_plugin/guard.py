"""Refuse to destroy data on any database the server does not call a test database.

The rule (the *test marker*): a database may be dropped from, truncated or rebuilt only if
the name **the server reports** for it (``SELECT current_database()``) ends in exactly
``_test``, lower case, with at least one character before it. So ``app_test`` and
``lab01_9f_test`` are marked; ``app_test_prod``, ``contest``, ``latest``, ``APP_TEST``,
``app_Test``, ``"app_test "`` (a trailing space), ``app_tеst`` (a Cyrillic ``е``) and
``_test`` alone are not. Why so strict:

- *A suffix, not a substring*: ``test`` occurs inside ordinary words and inside names
  such as ``app_test_prod``; only the end of the name is a deliberate choice.
- *Exact and case-sensitive*: PostgreSQL folds unquoted names to lower case, so
  ``CREATE DATABASE App_Test`` makes ``app_test`` (marked), but a quoted ``"APP_TEST"`` is a
  different database. Comparing the server's exact string, with no normalisation, means
  look-alikes (upper case, whitespace, Unicode confusables) never pass.
- *The server, not the URL*: a URL can lie (a PostgreSQL service file, a pgbouncer alias,
  a proxy), so the guard asks the connection it is about to destroy data through.

What counts as destructive: ``metadata.drop_all``; ``metadata.create_all`` on a database
that already holds rows; any statement with the keyword ``DROP`` or ``TRUNCATE`` outside
string literals, comments and quoted names (``ALTER TABLE ... DROP COLUMN`` included),
also inside a dollar-quoted body such as a ``DO`` block; and ``DELETE`` without ``WHERE``.
``DROP DATABASE x`` is judged by ``x``, the database it would drop. The guard stops
accidents in test code, not an adversary: SQL assembled at run time inside the server
(``EXECUTE 'DR' || 'OP ...'``) or a raw driver connection goes around it.

Use ``protect(engine)`` for one engine (sync or async), ``protect_all()`` for every engine
in the process; ``check_url`` asks the server before anything runs (the pytest plugin's
``guard_hooks`` uses it).
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, event, text
from sqlalchemy.engine import Connection, Engine

from ..errors import LabError

__all__ = [
    "MARKER", "GuardError", "Destructive", "is_test_database", "require_test_database", "destructive_sql",
    "server_database", "current_database", "database_identity", "made_by_this_run", "check_url", "protect", "unprotect", "is_protected",
    "protect_all", "unprotect_all", "everywhere",
]

MARKER = "_test"
_INFO_KEY = "labsupport.guard.current_database"


class GuardError(LabError):
    """A destructive operation refused because the database is not a test database."""


def is_test_database(name: object) -> bool:
    """True only for a name that ends in exactly ``_test`` and has something before it."""
    return isinstance(name, str) and len(name) > len(MARKER) and name.endswith(MARKER)


def _suggest(name: str) -> str:
    return f"{name.strip() or 'app'}{MARKER}"


def require_test_database(name: str, operation: str) -> str:
    """Return ``name`` if it carries the marker, else raise a GuardError that names it."""
    if is_test_database(name):
        return name
    raise GuardError(
        f"labsupport.guard refused {operation} on database {name!r} (the server's current_database()): "
        f"it is not a test database, its name does not end in {MARKER!r}. Point the tests at a test "
        f"database, e.g. {_suggest(name)!r} cloned from a template"
    )


# ---------------------------------------------------------------- reading SQL


@dataclass(frozen=True)
class Destructive:
    """One destructive operation found in SQL; ``target`` is set for ``DROP DATABASE``."""

    verb: str
    target: str | None = None


_DOLLAR = re.compile(r"\$([^\W\d]\w*)?\$")
_WORD = re.compile(r"[^\W\d][\w$]*")
_DANGER = re.compile(r"\b(drop|truncate)\b", re.IGNORECASE)


def _fold(word: str) -> str:
    """PostgreSQL folds unquoted identifiers to lower case, ASCII letters only (UTF-8 servers)."""
    return word.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _skip_string(sql: str, i: int, backslashes: bool) -> int:
    """Index just past the literal that starts at the quote ``sql[i]``."""
    i += 1
    while i < len(sql):
        c = sql[i]
        if backslashes and c == "\\":
            i += 2
            continue
        if c == "'":
            if sql.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    return i


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, value) tokens: 'word' (folded), 'name' (quoted), 'danger' (a risky dollar body), ';'."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):  # comments nest in PostgreSQL
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "'":
            i = _skip_string(sql, i, backslashes=False)
        elif c == '"':
            j, parts = i + 1, []
            while j < n:
                if sql[j] == '"':
                    if sql.startswith('""', j):
                        parts.append('"')
                        j += 2
                        continue
                    break
                parts.append(sql[j])
                j += 1
            yield "name", "".join(parts)
            i = j + 1
        elif c == "$" and (m := _DOLLAR.match(sql, i)):
            end = sql.find(m.group(0), m.end())
            body = sql[m.end():] if end < 0 else sql[m.end():end]
            if _DANGER.search(body):  # a DO block or function body: judged by its raw text, strictly
                yield "danger", body
            i = n if end < 0 else end + len(m.group(0))
        elif c == ";":
            yield ";", ";"
            i += 1
        elif m := _WORD.match(sql, i):
            word = m.group(0)
            if word in ("e", "E") and sql.startswith("'", m.end()):  # E'...' allows backslash escapes
                i = _skip_string(sql, m.end(), backslashes=True)
                continue
            yield "word", _fold(word)
            i = m.end()
        else:
            i += 1


def destructive_sql(sql: str) -> list[Destructive]:
    """Every destructive operation in a SQL string (empty when there is none)."""
    found: list[Destructive] = []
    statement: list[tuple[str, str]] = []
    for token in [*_tokens(sql), (";", ";")]:
        if token[0] != ";":
            statement.append(token)
            continue
        found.extend(_judge(statement))
        statement = []
    return found


def _judge(statement: list[tuple[str, str]]) -> list[Destructive]:
    words = [v for k, v in statement if k == "word"]
    if any(k == "danger" for k, _ in statement):
        return [Destructive("DROP or TRUNCATE inside a dollar-quoted body")]
    if "truncate" in words:
        return [Destructive("TRUNCATE")]
    if words[:1] == ["delete"] and "where" not in words:
        return [Destructive("DELETE without WHERE")]
    for index, (kind, value) in enumerate(statement):
        if kind == "word" and value == "drop":
            rest = statement[index + 1:]
            what = rest[0][1].upper() if rest and rest[0][0] == "word" else ""
            if what == "DATABASE":
                names = [t for t in rest[1:] if not (t[0] == "word" and t[1] in ("if", "exists"))]
                return [Destructive("DROP DATABASE", names[0][1] if names else None)]
            return [Destructive(f"DROP {what}".strip())]
    return []


# ---------------------------------------------------------------- asking the server


def server_database(connection: Connection) -> str:
    """The database this connection is really on, as the server says; asked once per connection.

    ``current_database()`` cannot change during a PostgreSQL session, so the answer is kept
    with the pooled connection.
    """
    fairy = connection.connection
    name = fairy.info.get(_INFO_KEY)
    if name is None:
        dbapi = fairy.dbapi_connection
        assert dbapi is not None, "a connection in use holds its DBAPI connection"
        cursor = dbapi.cursor()
        try:
            cursor.execute("SELECT current_database()")
            row = cursor.fetchone()
            assert row is not None, "SELECT current_database() returns one row"
            name = row[0]
        finally:
            cursor.close()
        fairy.info[_INFO_KEY] = name
    return str(name)


async def current_database(url: str) -> str:
    """Ask the server which database a URL really reaches (one short-lived connection)."""
    from ..connection import connect
    from ..urls import parse

    parsed = parse(url, what="the app's database URL").render_as_string(hide_password=False)
    conn = await connect(parsed, what="the app's database URL")
    try:
        return str(await conn.fetchval("SELECT current_database()"))
    finally:
        await conn.close()


async def database_identity(url: str, what: str = "the test database URL") -> tuple[str, str | None]:
    """The server's name for the database behind ``url`` and its comment (the lab's owner mark, if any)."""
    from ..connection import connect
    from ..urls import parse

    parsed = parse(url, what=what).render_as_string(hide_password=False)
    conn = await connect(parsed, what=what)
    try:
        row = await conn.fetchrow("SELECT current_database() AS name, shobj_description(oid, 'pg_database') AS comment "
                                  "FROM pg_database WHERE datname = current_database()")
        return str(row["name"]), row["comment"]
    finally:
        await conn.close()


def made_by_this_run(comment: str | None) -> bool:
    """True when a database's owner mark names this process, or the owner a parent handed down
    (``LAB_OWNER``): a database this run, or the lesson that started it, created to test on."""
    from .. import owners

    owner = owners.parse(comment)
    return owner is not None and owner == owners.current()


async def check_url(url: str, operation: str = "running the tests") -> str:
    """The server's name for the database behind ``url``, or GuardError if it is not marked."""
    return require_test_database(await current_database(url), operation)


def _tables_with_rows(connection: Connection) -> list[str]:
    tables = connection.execute(text(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
        "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1")).scalars().all()
    return [t for t in tables if connection.execute(text(f"SELECT EXISTS (SELECT 1 FROM {t})")).scalar()]


# ---------------------------------------------------------------- hooks into SQLAlchemy

_PROTECTED: weakref.WeakSet[Engine] = weakref.WeakSet()
_EVERYWHERE = False


def _is_postgres(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


@functools.lru_cache(maxsize=4096)
def _verdict(statement: str) -> tuple[Destructive, ...]:
    """destructive_sql, read once per statement text: SQLAlchemy sends the same few strings again and again."""
    return tuple(destructive_sql(statement))


def _check_statement(statement: str, context: Any) -> None:
    connection: Connection = context.root_connection
    if not _is_postgres(connection):
        return
    for op in _verdict(statement):
        if op.verb == "DROP DATABASE":
            if not is_test_database(op.target):
                raise GuardError(
                    f"labsupport.guard refused DROP DATABASE {op.target!r}: it is not a test database "
                    f"(its name does not end in {MARKER!r}); drop only databases your tests created"
                )
        else:
            require_test_database(server_database(connection), op.verb)


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    """The dialect's ``do_execute`` and ``do_executemany`` events: the statement is judged just before the
    driver gets it. A dialect event, not the engine's ``before_cursor_execute``: an engine with any engine
    event listened for dispatches every engine event on every statement and transaction step, which costs
    a test about as much as the guard itself. False: SQLAlchemy then sends it as usual."""
    _check_statement(statement, context)
    return False


def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
    _check_statement(statement, context)
    return False


_DIALECT_EVENTS = (("do_execute", _do_execute), ("do_executemany", _do_execute),
                   ("do_execute_no_params", _do_execute_no_params))


_LISTENING: weakref.WeakSet[Any] = weakref.WeakSet()  # what the statement check listens on: dialects, or Engine


def _listen(target: Any) -> None:
    """The statement check on one engine's dialect, or on every dialect (``Engine``, the class).

    What has it is kept here, not asked of ``event.contains``: SQLAlchemy's registry keys a listener
    by the ``id()`` of its target, and a new dialect at the address of a collected one must never pass
    for one that has the check."""
    key = target if isinstance(target, type) else target.dialect
    if key not in _LISTENING:
        for name, fn in _DIALECT_EVENTS:
            event.listen(target, name, fn)
        _LISTENING.add(key)


def _stop_listening(target: Any) -> None:
    key = target if isinstance(target, type) else target.dialect
    if key in _LISTENING:
        for name, fn in _DIALECT_EVENTS:
            event.remove(target, name, fn)
        _LISTENING.discard(key)


def _guarded(connection: Connection) -> bool:
    return _is_postgres(connection) and (_EVERYWHERE or connection.engine in _PROTECTED)


def _before_drop(target: MetaData, connection: Connection, **kw: Any) -> None:
    if _guarded(connection):
        require_test_database(server_database(connection), "drop_all")


def _before_create(target: MetaData, connection: Connection, **kw: Any) -> None:
    if not _guarded(connection):
        return
    name = server_database(connection)
    if is_test_database(name):
        return
    holding = _tables_with_rows(connection)
    if holding:
        raise GuardError(
            f"labsupport.guard refused create_all on database {name!r}: it is not a test database "
            f"(its name does not end in {MARKER!r}) and it holds data ({', '.join(holding[:3])}). "
            f"Point the tests at a test database, e.g. {_suggest(name)!r} cloned from a template"
        )


def _install_metadata_hooks() -> None:
    if not event.contains(MetaData, "before_drop", _before_drop):
        event.listen(MetaData, "before_drop", _before_drop)
        event.listen(MetaData, "before_create", _before_create)


def _sync(engine: Any) -> Engine:
    sync = getattr(engine, "sync_engine", engine)  # an AsyncEngine wraps a sync Engine
    if not isinstance(sync, Engine):
        raise LabError(f"guard.protect needs a SQLAlchemy engine, got {type(engine).__name__}")
    return sync


def protect(engine: Any) -> Any:
    """Guard one engine (sync or async): destructive SQL and drop_all/create_all are checked. Returns it."""
    sync = _sync(engine)
    if sync.dialect.name != "postgresql":
        raise LabError(f"labsupport.guard knows PostgreSQL only; this engine is {sync.dialect.name}")
    _install_metadata_hooks()
    _listen(sync)
    _PROTECTED.add(sync)
    return engine


def unprotect(engine: Any) -> None:
    sync = _sync(engine)
    _stop_listening(sync)
    _PROTECTED.discard(sync)


def is_protected(engine: Any) -> bool:
    return _EVERYWHERE or _sync(engine) in _PROTECTED


def protect_all() -> None:
    """Guard every PostgreSQL engine in this process, those made later included."""
    global _EVERYWHERE
    _install_metadata_hooks()
    _listen(Engine)  # every dialect, those of engines made later included
    _EVERYWHERE = True


def unprotect_all() -> None:
    global _EVERYWHERE
    _stop_listening(Engine)
    _EVERYWHERE = False


@contextmanager
def everywhere() -> Iterator[None]:
    """``protect_all()`` for the duration of a block."""
    was = _EVERYWHERE
    protect_all()
    try:
        yield
    finally:
        if not was:
            unprotect_all()
