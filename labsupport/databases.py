"""Create, clone and drop databases on the lab's server, one implementation, async.

Cloning uses ``STRATEGY FILE_COPY`` (a ~20 ms file copy on a throwaway cluster
instead of WAL-logging every page) and first ends the template's other sessions:
PostgreSQL refuses to copy a database anyone is connected to (SQLSTATE 55006).

Every database made here is marked with its owner (see ``owners``); ``reap`` drops the
ones whose owner is certainly gone, and nothing else.

Every drop of a database in the lab goes through ``drop_lab_made``: it reads the database's
comment and drops it only if the comment is the lab's mark (``owners.is_lab_made``). A database
a person made, even one named exactly as the lab would name its own, is refused with one line
(``NotLabMade``) that names it and says how to remove it by hand. ``drop``, ``drop_under``,
``create(..., replace=True)``, ``clone(..., replace=True)`` and ``reap`` all come here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import threading
from collections.abc import Callable, Iterator

import asyncpg

from . import owners
from .connection import connect
from .errors import LabError

__all__ = ["validate_name", "validate_prefix", "MAX_PREFIX_BYTES", "quote", "create", "drop", "drop_lab_made",
           "NotLabMade", "clone", "exists", "names", "names_under", "drop_under", "like_prefix",
           "terminate_sessions", "reap"]

MAX_NAME_BYTES = 63
MAX_PREFIX_BYTES = 40  # leaves room for "_template_test" or "_gw12_test" within 63 bytes
_CLONE_RETRIES = 20


def validate_name(name: str) -> str:
    """A database name PostgreSQL will keep as written: 1 to 63 bytes, no NUL."""
    if not isinstance(name, str) or not name:
        raise LabError("a database name must be a non-empty string")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise LabError(
            f"database name {name[:20]!r}... is {size} bytes; PostgreSQL would silently cut it to "
            f"{MAX_NAME_BYTES}: choose a shorter prefix"
        )
    if "\x00" in name:
        raise LabError("a database name cannot contain a NUL character")
    return name


def validate_prefix(prefix: str, where: str = "the database prefix") -> str:
    """The one rule for a prefix that a run's or a lesson's databases start with: lower case, short,
    safe in any SQL and in a LIKE pattern's eyes (``names_under`` escapes its ``_`` anyway)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix or "") or prefix.endswith("_"):
        raise LabError(f"{where} {prefix!r} must be lower-case letters, digits and underscores, "
                       "start with a letter and not end with '_'")
    if len(prefix.encode()) > MAX_PREFIX_BYTES:
        raise LabError(f"{where} {prefix!r} is longer than {MAX_PREFIX_BYTES} bytes: PostgreSQL cuts names "
                       "at 63 bytes, choose a shorter prefix")
    return prefix


def quote(name: str) -> str:
    """Quote an identifier the way PostgreSQL's quote_ident does, always."""
    return '"' + validate_name(name).replace('"', '""') + '"'


async def exists(admin_url: str, name: str) -> bool:
    conn = await connect(admin_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", validate_name(name)))
    finally:
        await conn.close()


async def names(admin_url: str, like: str = "%") -> list[str]:
    """Databases whose name matches a LIKE pattern, sorted."""
    conn = await connect(admin_url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1", like)
        return [r["datname"] for r in rows]
    finally:
        await conn.close()


_SYSTEM = ("postgres", "template0", "template1")  # PostgreSQL's own databases


async def _comments(conn: asyncpg.Connection) -> list[tuple[str, str | None]]:
    """Every database with its comment (where the lab's owner mark lives), sorted by name."""
    rows = await conn.fetch("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database ORDER BY 1")
    return [(r[0], r[1]) for r in rows]


async def person_made(admin_url: str) -> list[str]:
    """The databases a person made (no lab owner mark), PostgreSQL's own ``postgres`` and templates aside."""
    conn = await connect(admin_url)
    try:
        return [name for name, comment in await _comments(conn)
                if name not in _SYSTEM and not owners.is_lab_made(comment)]
    finally:
        await conn.close()


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for ``<prefix>_<anything>``, with the prefix's own ``_``, ``%`` and ``\\`` taken literally."""
    return prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "\\_%"


async def names_under(admin_url: str, prefix: str, only: Callable[[str], bool] | None = None) -> list[str]:
    """The databases named ``<prefix>_...`` (and accepted by ``only``): what one run or lesson created."""
    found = await names(admin_url, like_prefix(prefix))
    return [n for n in found if only is None or only(n)]


async def drop_under(admin_url: str, prefix: str, only: Callable[[str], bool] | None = None) -> list[str]:
    """Drop every database named ``<prefix>_...`` (and accepted by ``only``) that the lab made; returns
    the names dropped. Those a person made are kept, and then one ``NotLabMade`` names them all
    (after the lab's own are gone)."""
    dropped, refused = [], []
    for name in await names_under(admin_url, prefix, only):
        try:
            if await drop_lab_made(admin_url, name):
                dropped.append(name)
        except NotLabMade:
            refused.append(name)
    if refused:
        raise NotLabMade(refused)
    return dropped


async def terminate_sessions(conn: asyncpg.Connection, name: str) -> int:
    """End every other session on a database; returns how many were ended."""
    return int(await conn.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()", name))


async def create(admin_url: str, name: str, *, template: str | None = None, replace: bool = False) -> str:
    """Create an empty database (or a copy of ``template``); returns its name."""
    if template is not None:
        return await clone(admin_url, template, name, replace=replace)
    conn = await connect(admin_url)
    try:
        if replace:
            await drop_lab_made(conn, name)
        try:
            await _create_marked(conn, f"CREATE DATABASE {quote(name)}", name)
        except asyncpg.DuplicateDatabaseError:
            raise LabError(f"database {name!r} already exists: drop it first or pass replace=True") from None
    finally:
        await conn.close()
    return name


class NotLabMade(LabError):
    """A drop refused: the database has no lab owner mark, so a person made it."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        shown = ", ".join(repr(n) for n in self.names)
        commands = "; ".join(f"psql \"$(labsupport url)\" -c 'DROP DATABASE {quote(n)}'" for n in self.names)
        it, carries = ("them", "they carry") if len(self.names) > 1 else ("it", "it carries")
        super().__init__(
            f"refused to drop database {shown}: {carries} no owner mark of the lab (a comment starting "
            f"{owners.MARK.strip()!r}), so the lab did not make {it} and never drops {it}; if you are sure "
            f"nothing in {it} is needed, remove {it} by hand: {commands} (or your server's admin URL instead of "
            "$(labsupport url))")


async def drop_lab_made(server: str | asyncpg.Connection, name: str, *, missing_ok: bool = True) -> bool:
    """Drop ``name`` if the lab made it (its comment starts with ``owners.MARK``), even while sessions
    are connected (``WITH (FORCE)``). True if it existed and was dropped; False if it was missing
    (``missing_ok``, else LabError). An unmarked database, or one whose comment is not the lab's,
    raises ``NotLabMade`` and is left as it is. ``server`` is an admin URL or an open admin connection.

    The lab's one ``DROP DATABASE``: every drop, reap and clean-up comes here."""
    conn = await connect(server) if isinstance(server, str) else server
    try:
        row = await conn.fetchrow("SELECT shobj_description(oid, 'pg_database') AS comment FROM pg_database "
                                  "WHERE datname = $1", validate_name(name))
        if row is None:
            if missing_ok:
                return False
            raise LabError(f"database {name!r} does not exist")
        if not owners.is_lab_made(row["comment"]):
            raise NotLabMade([name])
        await conn.execute(f"DROP DATABASE IF EXISTS {quote(name)} WITH (FORCE)")
        return True
    finally:
        if isinstance(server, str):
            await conn.close()


async def drop(admin_url: str, name: str, *, missing_ok: bool = True) -> bool:
    """``drop_lab_made`` by its short name: a database the lab did not make is never dropped."""
    return await drop_lab_made(admin_url, name, missing_ok=missing_ok)


async def clone(admin_url: str, template: str, name: str, *, replace: bool = False) -> str:
    """Create ``name`` as a file copy of ``template``, retrying while the template is busy."""
    conn = await connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", validate_name(template)):
            raise LabError(f"template database {template!r} does not exist: create it before cloning")
        if replace:
            await drop_lab_made(conn, name)
        strategy = " STRATEGY FILE_COPY" if conn.get_server_version().major >= 15 else ""
        sql = f"CREATE DATABASE {quote(name)} TEMPLATE {quote(template)}{strategy}"
        for attempt in range(_CLONE_RETRIES):
            await terminate_sessions(conn, template)
            try:
                await _create_marked(conn, sql, name)
                return name
            except asyncpg.ObjectInUseError:  # 55006: someone connected between the two statements
                await asyncio.sleep(0.05 * (attempt + 1))
            except asyncpg.DuplicateDatabaseError:
                raise LabError(f"database {name!r} already exists: drop it first or pass replace=True") from None
        raise LabError(
            f"template {template!r} stayed busy (SQLSTATE 55006) through {_CLONE_RETRIES} tries: "
            "close the sessions connected to it"
        )
    finally:
        await conn.close()


async def _create_marked(conn: asyncpg.Connection, create: str, name: str) -> None:
    """Run ``create`` (a CREATE DATABASE), then mark ``name`` with its owner, with nothing between the
    two statements but the mark's own round trip, and Ctrl-C or SIGTERM held until both are done: a
    database left without its mark would count as a person's, and no run would ever drop it."""
    with _signals_held():
        await conn.execute("SET synchronous_commit TO on")  # the mark outlives a killed server
        await conn.execute(create)
        await conn.execute(f"COMMENT ON DATABASE {quote(name)} IS '{owners.current().comment.replace(chr(39), chr(39) * 2)}'")


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends, then act as they would have (main thread only:
    elsewhere Python runs no signal handler anyway)."""
    kinds = (signal.SIGINT, signal.SIGTERM)
    previous = {kind: signal.getsignal(kind) for kind in kinds}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        yield
        return
    caught: list[int] = []
    for kind in kinds:
        signal.signal(kind, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for kind, handler in previous.items():
            signal.signal(kind, handler)
        for signum in caught:
            signal.raise_signal(signum)


async def reap(admin_url: str) -> list[str]:
    """Drop the lab's databases whose owner is gone (a killed run, a restarted kernel); returns their names.

    Only databases carrying the lab's owner comment for this host and boot are candidates,
    and only those whose process no longer exists are dropped.
    """
    conn = await connect(admin_url)
    try:
        gone = [name for name, comment in await _comments(conn)
                if (owner := owners.parse(comment)) is not None and owner.is_gone()]
        for name in gone:
            await drop_lab_made(conn, name)
        return gone
    finally:
        await conn.close()
