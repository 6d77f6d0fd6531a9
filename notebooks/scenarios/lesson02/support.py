"""Evidence for lesson 02: which server process and transaction a piece of code is using.

``router`` adds ``GET /_lab/backend`` to the app under test: it takes its session from the
app's own dependency, exactly as the real routes do, and reports that connection's backend
pid and transaction id. ``save`` writes a test's evidence where the notebook can read it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.api import Session

EVIDENCE_ENV = "LESSON02_EVIDENCE"
router = APIRouter()


async def backend(session: AsyncSession) -> dict[str, int]:
    """This session's server process (``pg_backend_pid``) and transaction id (``txid_current``)."""
    pid, txid = (await session.execute(text("SELECT pg_backend_pid(), txid_current()"))).one()
    return {"pid": int(pid), "txid": int(txid)}


@router.get("/_lab/backend")
async def route_backend(session: Session) -> dict[str, int]:
    return await backend(session)


def save(name: str, evidence: dict[str, Any]) -> None:
    """Write evidence as JSON into $LESSON02_EVIDENCE (nothing happens when it is not set)."""
    folder = os.environ.get(EVIDENCE_ENV)
    if folder:
        Path(folder, f"{name}.json").write_text(json.dumps(evidence), encoding="utf-8")


# ---------------------------------------------------------------- the notebook's databases (its exercises' checks: labsupport.teaching.exercises.lesson02)


async def template(lab: Any) -> str:
    """The database with the app's schema every suite of the lesson is cloned from; made if missing."""
    from flashcards import models

    return await lab.template(models.Base.metadata)


async def fresh(lab: Any, suffix: str, evidence: Path | None = None) -> tuple[str, dict[str, str]]:
    """A clone of the template for one suite: its URL and the environment the suites read it from."""
    url = lab.url(await lab.create_database(suffix, template=await template(lab)))
    env = {"LAB_TEST_DATABASE_URL": url, "FLASHCARDS_DATABASE_URL": url}
    if evidence is not None:
        env[EVIDENCE_ENV] = str(evidence)
    return url, env


EXERCISE = Path(__file__).resolve().parent / "exercise"


def evidence_folder() -> Path:
    """A private folder the suites write their evidence into (``EVIDENCE_ENV``), removed by the
    notebook's clean-up cell (or by a later start of the lab, if this kernel is killed first)."""
    import shutil

    from labsupport import owners
    from labsupport.teaching import lesson

    folder = owners.temp_dir("lesson02")
    lesson.on_clean_up(lambda: shutil.rmtree(folder, ignore_errors=True))
    return folder


@contextlib.contextmanager
def sql_sent(engine: Any) -> Iterator[list[str]]:
    """The SQL ``engine`` sends inside the block, one short line per statement, BEGIN, COMMIT and
    ROLLBACK included (what ``echo=True`` logs, without its timestamps and parameters)."""
    from sqlalchemy import event

    sent: list[str] = []
    hooks: dict[str, Callable[..., None]] = {
        "begin": lambda conn: sent.append("BEGIN"),
        "commit": lambda conn: sent.append("COMMIT"),
        "rollback": lambda conn: sent.append("ROLLBACK"),
        "before_cursor_execute": lambda conn, cursor, statement, *rest: sent.append(" ".join(statement.split())),
    }
    for name, hook in hooks.items():
        event.listen(engine.sync_engine, name, hook)
    try:
        yield sent
    finally:
        for name, hook in hooks.items():
            event.remove(engine.sync_engine, name, hook)


async def clone_engine(lab: Any, suffix: str) -> Any:
    """An engine (NullPool: it keeps no connection) on a fresh clone; the notebook's clean-up disposes of it."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from labsupport.teaching import lesson

    url, _ = await fresh(lab, suffix)
    engine = create_async_engine(url, poolclass=NullPool)
    lesson.on_clean_up(engine.dispose)
    return engine


def timing_table(timing: Any) -> dict[str, list[float]]:
    """Show the timing run's milliseconds per test for each kind of isolation (median, min, max); returns them."""
    import statistics

    from labsupport.teaching import lesson

    ms = {kind: [t.seconds * 1000 for t in timing.tests if t.name.startswith(f"test_{kind}[")]
          for kind in ("rollback", "clone")}
    lesson.show_table([(k, len(v), f"{statistics.median(v):.1f}", f"{min(v):.1f}", f"{max(v):.1f}")
                       for k, v in ms.items()], ["isolation", "tests", "median ms", "min ms", "max ms"])
    return ms
