"""A database per pytest-xdist worker, cloned from one template (lesson 04).

Workers that share one database race in its catalog: two ``create_all`` at once collide
(``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``) and one
worker's ``drop_all`` removes tables another is still using (``relation ... does not exist``).
These pieces give every worker its own database instead. Configure them in pytest.ini
(labsupport's pytest plugin loads ``worker_hooks``, inert without ``lab_metadata``)::

    [pytest]
    lab_metadata = flashcards.models:Base.metadata  # or a Base, or a callable(url) that builds the schema
    # lab_migrations = alembic.ini                  # or the schema from alembic upgrade head (``migrations``)
    # lab_server_url = env:MY_SERVER_URL            # default: $LAB_SERVER_URL, else the lab's own server
    # lab_db_prefix = shop                          # default: $LAB_DB_PREFIX, else the rootdir's name

A run (``pytest -n 2``, ``-n auto`` or no ``-n`` at all):

1. the controller takes the prefix's PostgreSQL advisory lock on a connection it keeps open
   all run (a second run with the same prefix stops with one line; a crashed run's lock went
   with its connection), drops what a crashed run of the prefix left behind, and builds
   ``<prefix>_template_test`` with the schema (or reuses a kept template: ``template``), all
   before the workers start. Only databases carrying the lab's owner mark are dropped
   (``databases.drop_lab_made``): if a person made a database under one of the run's names
   (``<prefix>_gw0_test`` ...), the run stops there with one line that names it, before any test,
   and the database keeps every row;
2. each worker clones its own ``<prefix>_gw0_test``, ``<prefix>_gw1_test`` ... (``<prefix>_master_test``
   without xdist) on first use, a file copy of the template, and drops it at its end;
3. the controller drops the template (not a kept one) and anything a dead worker left, and
   releases the lock.

Fixtures: ``worker_id`` (pytest-xdist's: ``gw0`` ... or ``master``), ``is_parallel_run``,
``lab_run_prefix``, ``lab_worker_database_name`` (override it to name databases yourself),
``lab_worker_database`` and, once configured, ``lab_database_url`` and ``lab_engine_options`` for
lesson 02's chain (``lab_engine`` -> ``lab_connection`` -> ``lab_session`` ...): NullPool engines on
the worker's database whose connections say ``application_name = pytest-<worker>`` in
``pg_stat_activity``.
For your app's own engine use ``engine_options(worker_id)``.

Marker ``no_parallel``: the test runs alone. Under xdist every test holds a shared advisory lock
of the run and a ``no_parallel`` test holds it exclusively, so it starts once the other workers'
current tests have finished and they wait for it. Without xdist it changes nothing. (The case
file's team skipped such tests under xdist, so their CI never ran them.)

Every name ends in ``_test``, lesson 01's test marker, so lesson 01's ``guard`` accepts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from .. import databases
from ..connection import connect, run_sync
from ..databases import MAX_PREFIX_BYTES, validate_prefix
from ..errors import LabError
from ..settings import import_object
from .guard import MARKER
from .options import fail, is_worker

__all__ = [
    "SUFFIX", "TEMPLATE", "MASTER", "MAX_PREFIX_BYTES", "database_name", "template_name", "owns",
    "application_name", "engine_options", "validate_prefix", "default_prefix", "lock_key", "load_schema",
    "owned_databases", "RunInfo", "RunClaim", "TestLock", "header_lines",
    "is_parallel_run", "lab_run_prefix", "lab_worker_database_name", "lab_worker_database", "RUN_INFO", "run_info",
]

SUFFIX = MARKER  # lesson 01's guard marker: every name a run makes ends in it
TEMPLATE = "template"
MASTER = "master"
_WORKER = re.compile(r"gw\d+|master")
_HINT = "set lab_metadata = yourapp.models:Base.metadata in pytest.ini (see labsupport.pytest_plugin.workers)"


# ---------------------------------------------------------------- names


def database_name(prefix: str, worker_id: str) -> str:
    """One worker's database: ``<prefix>_gw0_test``, ``<prefix>_gw1_test`` ..., ``<prefix>_master_test``."""
    if not _WORKER.fullmatch(worker_id or ""):
        raise LabError(f"worker id {worker_id!r} is not pytest-xdist's gw<N> or 'master'")
    return databases.validate_name(f"{validate_prefix(prefix)}_{worker_id}{SUFFIX}")


def template_name(prefix: str) -> str:
    """The run's template: the schema and no rows, copied by every worker."""
    return databases.validate_name(f"{validate_prefix(prefix)}_{TEMPLATE}{SUFFIX}")


def owns(prefix: str, name: str) -> bool:
    """True for the databases a run of ``prefix`` makes, and no others (not those of ``<prefix>_x``)."""
    return re.fullmatch(rf"{re.escape(prefix)}_(?:{TEMPLATE}|{MASTER}|gw\d+){SUFFIX}", name) is not None


def default_prefix(rootpath: Path) -> str:
    """A recognisable default: the project folder's name, made safe ("My-Shop" -> "my_shop")."""
    name = re.sub(r"[^a-z0-9]+", "_", rootpath.name.lower()).strip("_")[:30].rstrip("_")
    if not name:
        return "tests"
    return name if name[0].isalpha() else f"t_{name}"[:30].rstrip("_")


def application_name(worker_id: str) -> str:
    return f"pytest-{worker_id}"


def engine_options(worker_id: str) -> dict[str, Any]:
    """``create_async_engine`` options that name the worker in ``pg_stat_activity``."""
    return {"connect_args": {"server_settings": {"application_name": application_name(worker_id)}}}


def lock_key(prefix: str, purpose: str) -> int:
    """A 64-bit advisory lock key for one purpose ("run", "tests") of one prefix."""
    digest = hashlib.blake2b(f"labsupport.workers:{purpose}:{prefix}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---------------------------------------------------------------- the schema


def load_schema(spec: str, hint: str = "; is your project on sys.path (pytest's pythonpath ini option)?") -> Any:
    """``package.module:attr``: a MetaData, a declarative Base (its ``metadata``) or a callable(url)."""
    from sqlalchemy import MetaData

    obj = import_object(spec, "lab_metadata", "flashcards.models:Base.metadata", hint=hint)
    if isinstance(getattr(obj, "metadata", None), MetaData):
        obj = obj.metadata
    if isinstance(obj, MetaData) or callable(obj):
        return obj
    raise LabError(f"lab_metadata {spec!r} is a {type(obj).__name__}, not a MetaData, a Base or a callable(url)")


# ---------------------------------------------------------------- what a run owns, and its lock


async def owned_databases(admin_url: str, prefix: str) -> list[str]:
    """The databases on the server that a run of ``prefix`` makes (see ``owns``); ``databases.drop_under``
    with the same ``only`` drops them (only while holding the prefix's run lock)."""
    return await databases.names_under(admin_url, prefix, only=functools.partial(owns, prefix))


class _HeldConnection:
    """One asyncpg connection that outlives a call: its own event loop in a daemon thread.

    Session-level advisory locks belong to a connection, so the connection must stay open
    while pytest's sync hooks come and go. If the process dies, the server sees the socket
    close and releases the locks: that is how a crashed run lets go of its prefix.
    """

    def __init__(self, admin_url: str, app_name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"labsupport-{app_name}", daemon=True)
        self._thread.start()
        try:
            self._conn = self.run(self._open(admin_url, app_name))
        except BaseException:
            self._stop()
            raise

    @staticmethod
    async def _open(admin_url: str, app_name: str) -> Any:
        conn = await connect(admin_url)
        await conn.execute("SELECT set_config('application_name', $1, false)", app_name)
        return conn

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def fetchval(self, sql: str, *args: object) -> Any:
        return self.run(self._conn.fetchval(sql, *args))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self._conn.close())
        self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()


@dataclass
class RunClaim:
    """This run's hold on its prefix, and what a crashed run of the prefix had left."""

    admin_url: str
    prefix: str
    reaped: list[str]
    _held: _HeldConnection

    @classmethod
    def take(cls, admin_url: str, prefix: str, wait: float = 5.0) -> RunClaim:
        """Lock the prefix (waiting up to ``wait`` s for a just-killed run to let go), then reap.

        Holding the lock proves no live run uses the prefix, so every database of its names that
        carries the lab's mark is a leftover. One without the mark was made by a person: the claim
        stops with one line and drops nothing of it. Databases of other prefixes are never looked at.
        """
        held = _HeldConnection(admin_url, "pytest-controller")
        try:
            key, deadline = lock_key(prefix, "run"), time.monotonic() + wait
            while not held.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if time.monotonic() > deadline:
                    raise LabError(
                        f"another pytest run is using the database prefix {prefix!r} right now (it holds the "
                        "prefix's advisory lock): let it finish, or give this run its own prefix with "
                        "--lab-db-prefix or the ini option lab_db_prefix")
                time.sleep(0.1)
            reaped = run_sync(databases.drop_under(admin_url, prefix, only=functools.partial(owns, prefix)))
        except databases.NotLabMade as exc:
            held.close()
            raise LabError(f"no test ran: a run of the database prefix {prefix!r} makes and drops databases of "
                           f"these names, and {exc}; or give this run another prefix with --lab-db-prefix or "
                           "the ini option lab_db_prefix") from None
        except BaseException:
            held.close()
            raise
        return cls(admin_url=admin_url, prefix=prefix, reaped=reaped, _held=held)

    def release(self) -> None:
        """Closing the connection releases the lock."""
        self._held.close()


class TestLock:
    """The run's readers-writer lock: every test holds it shared, a ``no_parallel`` test alone."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(self, admin_url: str, prefix: str, worker_id: str) -> None:
        self._key = lock_key(prefix, "tests")
        self._held = _HeldConnection(admin_url, f"{application_name(worker_id)}-lock")

    def acquire(self, alone: bool) -> None:
        self._held.fetchval(f"SELECT pg_advisory_lock{'' if alone else '_shared'}($1)", self._key)

    def release(self, alone: bool) -> None:
        self._held.fetchval(f"SELECT pg_advisory_unlock{'' if alone else '_shared'}($1)", self._key)

    def close(self) -> None:
        self._held.close()


# ---------------------------------------------------------------- what every process of a run knows


@dataclass(frozen=True)
class RunInfo:
    """The server, the prefix and the template: the controller hands this to every worker."""

    admin_url: str
    prefix: str
    template: str

    def as_dict(self) -> dict[str, str]:
        return {"admin_url": self.admin_url, "prefix": self.prefix, "template": self.template}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RunInfo:
        return cls(admin_url=data["admin_url"], prefix=data["prefix"], template=data["template"])


RUN_INFO = pytest.StashKey[RunInfo]()


def run_info(config: pytest.Config) -> RunInfo | None:
    """This process's view of the run: from the controller (``workerinput``) or its own stash."""
    data = getattr(config, "workerinput", {}).get("labsupport_workers")
    return RunInfo.from_dict(data) if data else config.stash.get(RUN_INFO, None)


def header_lines(info: RunInfo, workers: list[str], sources: dict[str, str], server: str,
                 reaped: list[str]) -> list[str]:
    """The report header: mode, each worker's database, where each setting came from, what was reaped."""
    if workers:
        mode = f"parallel, {len(workers)} pytest-xdist workers"
    else:
        mode, workers = "sequential, one process (no xdist workers)", [MASTER]
    each = ", ".join(f"{w} -> {database_name(info.prefix, w)}" for w in workers)
    lines = [
        f"labsupport workers: {mode}: {each}; template {info.template}; the tests use only these databases, "
        f"named *{SUFFIX} by construction, so lesson 01's guard accepts them",
        "labsupport workers: " + "; ".join(f"{k} {v}" for k, v in sources.items()) + f"; server {server}",
    ]
    if reaped:
        lines.append(f"labsupport workers: removed {len(reaped)} database(s) a crashed run of this prefix "
                     f"left behind: {', '.join(reaped)}")
    return lines


# ---------------------------------------------------------------- fixtures


def _require_run(config: pytest.Config) -> RunInfo:
    info = run_info(config)
    if info is None:
        fail(f"labsupport: per-worker databases are not configured: {_HINT}")
    return info


@pytest.fixture(scope="session")
def is_parallel_run(request: pytest.FixtureRequest) -> bool:
    """True inside a pytest-xdist worker (``-n 2``, ``-n auto``), False in a one-process run."""
    return is_worker(request.config)


@pytest.fixture(scope="session")
def lab_run_prefix(request: pytest.FixtureRequest) -> str:
    """The prefix every database of this run starts with (``lab_db_prefix``)."""
    return _require_run(request.config).prefix


@pytest.fixture(scope="session")
def lab_worker_database_name(lab_run_prefix: str, worker_id: str) -> str:
    """This worker's database name. Override it to choose your own; it must start with the run's
    prefix and an underscore and end in ``_test``."""
    return database_name(lab_run_prefix, worker_id)


@pytest.fixture(scope="session")
def lab_worker_database(request: pytest.FixtureRequest, lab_worker_database_name: str,
                        worker_id: str) -> Iterator[str]:
    """This worker's own database, a copy of the run's template; dropped when the worker ends."""
    info = _require_run(request.config)
    name = lab_worker_database_name
    if not (isinstance(name, str) and name.startswith(info.prefix + "_") and name.endswith(SUFFIX)):
        fail(f"labsupport: lab_worker_database_name gave {name!r} for worker {worker_id}: it must start with "
              f"{info.prefix + '_'!r} and end in {SUFFIX!r}, so a later run can find it if this one crashes")
    try:
        run_sync(databases.clone(info.admin_url, info.template, name))
    except (LabError, asyncpg.PostgresError) as exc:  # two workers, one name: pg_database's unique index
        fail(f"labsupport: worker {worker_id} cannot have database {name!r}: {exc} (does every worker "
              "get a name of its own?)")
    yield name
    try:
        run_sync(databases.drop(info.admin_url, name))
    except LabError as exc:  # a teardown problem is a warning; the controller sweeps at the end
        warnings.warn(f"labsupport: could not drop {name!r}: {exc}", stacklevel=1)
