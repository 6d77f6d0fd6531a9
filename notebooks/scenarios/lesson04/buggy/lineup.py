"""How each worker runs create_all, in the team's two versions.

LESSON04_SCHEMA=every_worker (their first version, the default): every worker runs create_all
itself. In a real run the workers get there within a few milliseconds of each other, often
enough to collide now and then; with LESSON04_LINE_UP=1 the lesson lines them up at a file
barrier first, so the collision happens on every run instead of one run in ten.

LESSON04_SCHEMA=first_worker (their patch, "file-based signalling"): gw0 (or the lone master)
runs create_all and writes a flag file; the other workers wait for the flag.
"""

import asyncio
import os
import time

from flashcards.models import Base

WAIT_SECONDS = 60


async def _wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {WAIT_SECONDS} s for {what}")
        await asyncio.sleep(0.001)


async def line_up(worker_id, shared):
    """Return once every worker of the run got here (the workers count themselves in files)."""
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    (shared / f"lesson04-ready-{worker_id}").touch()
    await _wait_for(lambda: len(list(shared.glob("lesson04-ready-*"))) >= workers, "every worker")


async def create_all(engine, before=None):
    async with engine.begin() as conn:
        if before is not None:
            await before  # connected, in a transaction: only create_all itself is left
        await conn.run_sync(Base.metadata.create_all)


async def create_schema(engine, worker_id, tmp_path_factory):
    shared = tmp_path_factory.getbasetemp().parent  # one folder per run, shared by its workers
    if os.environ.get("LESSON04_SCHEMA", "every_worker") == "first_worker":
        flag = shared / "lesson04-schema-ready"
        if worker_id in ("gw0", "master"):
            await create_all(engine)
            flag.touch()
        else:
            await _wait_for(flag.exists, "gw0 to create the schema")
        return
    line_up_first = worker_id != "master" and os.environ.get("LESSON04_LINE_UP") == "1"
    await create_all(engine, line_up(worker_id, shared) if line_up_first else None)
