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


# ---------------------------------------------------------------- the notebook's databases and its exercise


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
_SECTION3 = ("section 3 shows the pieces: a session joined to a connection with join_transaction_mode "
             "(the cell that logs the SQL), and what lab_app_override does (the text after the fixtures' source)")


async def check_exercise(lab: Any, solution: bool) -> bool:
    """Run the exercise's tests, visible and hidden, on a fresh clone with your override (or the
    reference answer); print the verdict and return whether it passed."""
    from labsupport.teaching import lesson

    _, env = await fresh(lab, "exercise")
    answer = "override_solution" if solution else "override_stub"
    result = lesson.run_suite(EXERCISE, env=env | {"LESSON02_OVERRIDE": answer})
    return lesson.verdict("lesson02", judge(result))


def judge(result: Any) -> Any:
    """The verdict: the first failing check, in the order a solution usually gets there."""
    from labsupport.teaching import lesson

    if result.ok:
        return lesson.Verdict(True, f"all {result.passed} checks pass, the hidden ones included: requests see the "
                              "test's rows, their commits stay inside the test, and nothing is left.")
    failing = {t.name: t.message for t in result.tests if t.outcome in ("failed", "error")}
    problems = " ".join(failing.values())
    if "exercise not done yet" in problems:
        return lesson.Verdict(False, "session_override still ends in the stub's pytest.fail(...), so nothing is "
                              "overridden yet.", _SECTION3 + "; FastAPI replaces a dependency through "
                              "app.dependency_overrides[db.get_session].",
                              "the override is a function that yields one session per call, like the app's own "
                              "db.get_session (scenarios/flashcards/db.py).")
    if "must remove its override" in problems:
        return lesson.Verdict(False, "the override is still installed after the test, so a later test's requests "
                              "would use this test's connection, which is gone by then.",
                              "after the fixture's yield, take the entry out of app.dependency_overrides again.")
    if "test_route_sees_the_tests_rows" in failing:
        return lesson.Verdict(False, "a route did not see the row the test inserted on lab_connection: its session "
                              "uses another connection (the route's own engine).",
                              "bind each request's session to lab_connection; " + _SECTION3 + ".",
                              f"the failing check said: {lesson.shorten(failing['test_route_sees_the_tests_rows'])}")
    if "test_route_commits_stay_inside_the_test" in failing or "test_nothing_is_left_behind" in failing:
        return lesson.Verdict(False, "a route's commit() ended the test's outer transaction instead of a savepoint, "
                              "so rows escape the rollback or a failed request loses the test's own rows.",
                              "join_transaction_mode=\"create_savepoint\" turns a session's commit() into RELEASE "
                              "SAVEPOINT (section 3, the logged SQL).")
    if "test_a_failed_request_leaves_the_next_one_working" in failing:
        return lesson.Verdict(False, "after one request failed, the next request failed too: the requests share one "
                              "session, and a failed flush leaves a session unusable until it is rolled back.",
                              "give each request a session of its own: the override must make a new one each "
                              "time FastAPI calls it, and close it afterwards (async with ...).")
    first = next(iter(failing.values()), result.summary())
    return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(first, 300)}",
                          _SECTION3 + ".")
