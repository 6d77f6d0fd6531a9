"""Evidence for lesson 02: which server process and transaction a piece of code is using.

``router`` adds ``GET /_lab/backend`` to the app under test: it takes its session from the
app's own dependency, exactly as the real routes do, and reports that connection's backend
pid and transaction id. ``save`` writes a test's evidence where the notebook can read it.
"""

from __future__ import annotations

import json
import os
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
