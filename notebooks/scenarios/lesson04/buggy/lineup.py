"""How each worker builds and drops the schema, in the team's two versions, and how the lesson
lines the workers up so that each race happens on every run instead of now and then.

LESSON04_SCHEMA=every_worker (their first version, the default): every worker runs create_all
itself. In a real run the workers get there within milliseconds of each other and collide now
and then. With LESSON04_LINE_UP=1, the worker that finishes create_all first holds its commit
until another worker is waiting on its catalog rows: the collision then happens on every run.

LESSON04_SCHEMA=first_worker (their patch, "file-based signalling"): gw0 (or the lone master)
runs create_all and writes a flag file; the other workers wait for the flag. Each worker still
drops every table when it is done. With LESSON04_LINE_UP=1, a worker that still has tests to run
waits, between two tests, until the worker that ran out of tests has dropped the tables: the
order a busy machine produces by chance, made certain (and without lock waits in the way).

The workers signal each other with files in the run's shared temporary folder; a wait that
lasts more than WAIT_SECONDS raises, naming what it waited for.
"""

import asyncio
import os
import time
from pathlib import Path

from sqlalchemy import text

from flashcards.models import Base

WAIT_SECONDS = 300  # generous: on a loaded 2-core machine a worker has taken over a minute to start
HOLD_BEFORE_TEST = 6  # with LINE_UP: only the worker with the 15 deck tests gets past the 5 user tests
_tests_started = 0  # in this worker


def _lined_up() -> bool:
    return os.environ.get("LESSON04_LINE_UP") == "1" and "PYTEST_XDIST_WORKER" in os.environ


def _first_worker_mode() -> bool:
    return os.environ.get("LESSON04_SCHEMA", "every_worker") == "first_worker"


async def _wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_SECONDS} s for {what}")
        await asyncio.sleep(0.005)


async def _someone_waits_on(conn):
    """True once another session is blocked by this one (PostgreSQL's own lock graph says so).

    It reads pg_locks, which is live: pg_stat_activity would be read once per transaction and
    then repeat that snapshot, so a worker that started waiting later would never be seen.
    """
    return await conn.scalar(text(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid() "
        "AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"))


async def create_all(engine, hold_commit=False):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        if hold_commit:  # only the first to get here: the others are blocked on our catalog rows
            await _wait_for(lambda: _someone_waits_on(conn), "another worker to wait on this one's create_all")


async def create_schema(engine, worker_id, tmp_path_factory):
    if _first_worker_mode():
        flag = _shared(tmp_path_factory) / "lesson04-schema-ready"
        if worker_id in ("gw0", "master"):
            await create_all(engine)
            flag.touch()
        else:
            await _wait_for(_exists(flag), "gw0 to create the schema")
        return
    await create_all(engine, hold_commit=_lined_up())


async def drop_schema(engine, worker_id, tmp_path_factory):
    shared = _shared(tmp_path_factory)
    if _lined_up() and _first_worker_mode() and not (shared / f"lesson04-holding-{worker_id}").exists():
        await _wait_for(_exists(shared / "lesson04-holding-*"), "another worker to stop between two tests")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    (shared / "lesson04-tables-dropped").touch()


def before_test(item):
    """With LINE_UP in first_worker mode: before its HOLD_BEFORE_TEST-th test, a worker (holding
    no connection) says so and waits until another worker has dropped the tables."""
    if not (_lined_up() and _first_worker_mode()):
        return
    global _tests_started
    _tests_started += 1
    if _tests_started == HOLD_BEFORE_TEST:
        shared = Path(item.config.option.basetemp).parent  # xdist gives each worker <run>/popen-gwN
        (shared / f"lesson04-holding-{os.environ['PYTEST_XDIST_WORKER']}").touch()
        asyncio.run(_wait_for(_exists(shared / "lesson04-tables-dropped"), "another worker to drop the tables"))


def _shared(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp().parent  # one folder per run, shared by its workers


def _exists(pattern: Path):
    async def check():
        return any(pattern.parent.glob(pattern.name))
    return check
