"""Lesson 02's exercise checks. Each runs for real on the lesson's server and prints a verdict
(``lesson.verdict``): what happened, a hint, and more help from the second failing try on."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from labsupport import owners
from labsupport.teaching import lesson

HERE = Path(__file__).resolve().parent
SOLUTION_MODULE = "labsupport.teaching.exercises.lesson02.override_solution"
HIDDEN = HERE / "hidden_checks.py"
_SECTION3 = ("section 3 shows the pieces: a session joined to a connection with join_transaction_mode "
             "(the cell that shows the SQL), and what lab_app_override does (the paragraph after it)")
_STUB_MARK = 'pytest.fail("exercise not done yet'  # the stub's last line, until the learner edits it


# ---------------------------------------------------------------- the prediction: who sees the fixture's row

CASES = {
    "commit": "the fixture commits; the route's connection counts the users",
    "read_uncommitted": "the fixture only flushes; the route's connection counts at READ UNCOMMITTED",
    "same_connection": "the fixture only flushes; the route's session uses the fixture's connection",
}
_INSERT = text("INSERT INTO users (email, display_name) VALUES ('seen@example.org', 'Seen')")
_COUNT = text("SELECT count(*) FROM users")


async def _count_from(other: AsyncConnection | AsyncSession) -> int:
    return int(await other.scalar(_COUNT) or 0)


async def seen_by_the_route(url: str) -> dict[str, int]:
    """For each of ``CASES``, how many users the route's side counts after the fixture's INSERT, on ``url``
    (an empty clone); every case ends with no row left."""
    engine = create_async_engine(url, poolclass=NullPool)
    seen: dict[str, int] = {}
    try:
        async with engine.connect() as fixture, engine.connect() as route:
            await fixture.execute(_INSERT)
            await fixture.commit()
            seen["commit"] = await _count_from(route)
            await route.commit()
            await fixture.execute(text("DELETE FROM users"))
            await fixture.commit()

            await fixture.execute(_INSERT)  # flushed: sent, not committed
            await route.execute(text("SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED"))  # SQLAlchemy refuses the option
            seen["read_uncommitted"] = await _count_from(route)
            await route.rollback()
            async with AsyncSession(bind=fixture, join_transaction_mode="create_savepoint") as session:
                seen["same_connection"] = await _count_from(session)
            await fixture.rollback()
    finally:
        await engine.dispose()
    return seen


async def visibility(lab: lesson.Lab, prediction: Mapping[str, Any], solution: bool = False) -> bool:
    """Run the three cases for real on a fresh clone, show the prediction beside what the server
    said, and judge it."""
    from lesson02 import support

    if not solution and any(prediction.get(case, ...) is ... for case in CASES):
        return lesson.verdict("lesson02-prediction", judge_prediction(prediction, {}))  # predict first, then run
    name = await lab.create_database("visibility", template=await support.template(lab))
    try:
        seen = await seen_by_the_route(lab.url(name))
    finally:
        from labsupport import databases

        await databases.drop(lab.admin_url, name)
    if solution:
        prediction = dict(seen)
    lesson.show_table([(what, _shown(prediction.get(case, ...)), seen[case]) for case, what in CASES.items()],
                      ["case", "your prediction", "rows the route saw"])
    return lesson.verdict("lesson02-prediction", judge_prediction(prediction, seen))


def _shown(value: Any) -> str:
    return "..." if value is ... else repr(value)


def judge_prediction(prediction: Mapping[str, Any], seen: Mapping[str, int]) -> lesson.Verdict:
    """Both sides of each case: a hint for the first case predicted wrong."""
    if any(prediction.get(case, ...) is ... for case in CASES):
        return lesson.Verdict(False, "the prediction still has a ... in it: nothing was run yet.",
                              "replace each ... with a number of rows (0 or 1), then run the cell again.")
    wrong = [case for case in CASES if str(prediction[case]).strip() != str(seen[case])]
    if not wrong:
        return lesson.Verdict(True, "a committed row is seen by every connection; an uncommitted one only by its "
                              "own transaction, whatever isolation level the other asks for. Committing makes the "
                              "row visible (and, next, leaks it); section 3 gives the route the test's connection.")
    case = wrong[0]
    said = f"you predicted {prediction[case]!r} for '{CASES[case]}'; the route saw {seen[case]}."
    if case == "commit":
        return lesson.Verdict(False, said, "once a transaction commits, every statement that starts later sees "
                              "its rows, on any connection: READ COMMITTED means exactly that.")
    if case == "read_uncommitted":
        return lesson.Verdict(False, said, "PostgreSQL never shows a transaction's uncommitted rows to another "
                              "one: it runs READ UNCOMMITTED as READ COMMITTED (the Cause paragraph above).",
                              "there are no dirty reads in PostgreSQL at any isolation level.")
    return lesson.Verdict(False, said, "a transaction sees its own uncommitted rows: a session on the fixture's "
                          "connection runs inside the fixture's transaction. Section 3's fix is built on that.")


# ---------------------------------------------------------------- the design task: the dependency override


async def design_task(lab: lesson.Lab, solution: bool = False, answer: Path | None = None) -> bool:
    """Run the exercise's tests, visible and hidden, on a fresh clone with the learner's override (or
    ``answer``, a file in place of override_stub.py, or the reference answer); print the verdict and
    return whether it passed."""
    from lesson02 import support

    override = answer or support.EXERCISE / "override_stub.py"
    if not solution and _STUB_MARK in override.read_text(encoding="utf-8"):  # not edited yet: no need to run it
        return lesson.verdict("lesson02", _not_started())
    _, env = await support.fresh(lab, "exercise")
    with owners.temp_folder("lesson02-exercise") as tmp:
        suite = tmp / "exercise"
        shutil.copytree(support.EXERCISE, suite, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(HIDDEN, suite / "test_hidden_checks.py")
        if answer is not None:
            shutil.copy(answer, suite / "override_stub.py")
        if solution:
            env |= {"LESSON02_OVERRIDE": SOLUTION_MODULE}
        result = lesson.run_suite(suite, env=env)
    from labsupport import databases

    await databases.drop(lab.admin_url, lab.name("exercise"))
    return lesson.verdict("lesson02", judge(result))


def _not_started() -> lesson.Verdict:
    return lesson.Verdict(False, "session_override still ends in the stub's pytest.fail(...), so nothing is "
                          "overridden yet.", _SECTION3 + "; FastAPI replaces a dependency through "
                          "app.dependency_overrides[db.get_session].",
                          "the override is a function that yields one session per call, like the app's own "
                          "db.get_session (scenarios/flashcards/db.py).")


def judge(result: lesson.SuiteResult) -> lesson.Verdict:
    """The verdict: the first failing check, in the order a solution usually gets there."""
    if result.ok:
        return lesson.Verdict(True, f"all {result.passed} checks pass, the hidden ones included: requests see the "
                              "test's rows, their commits stay inside the test, and nothing is left.")
    failing = {t.name: t.message for t in result.tests if t.outcome in ("failed", "error")}
    problems = " ".join(failing.values())
    if "exercise not done yet" in problems:
        return _not_started()
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
