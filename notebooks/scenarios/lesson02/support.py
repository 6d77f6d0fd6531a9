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
