"""Lesson 01's exercise checks. Each runs for real on the lesson's server and prints a verdict
(``lesson.verdict``): what happened, a hint, and more help from the second failing try on."""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from labsupport import databases, owners, urls
from labsupport.pytest_plugin import guard
from labsupport.teaching import lesson

HERE = Path(__file__).resolve().parent
SOLUTION = HERE / "solution_conftest.py"
WATCH_PLUGIN = "labsupport.teaching.exercises.lesson01.import_watch"
ENV_VAR = "FLASHCARDS_DATABASE_URL"
_SECTION3 = "section 3 shows the pieces: the fixed conftest.py and the guard"


# ---------------------------------------------------------------- the prediction: a URL without a database name


def nameless(url: str) -> str:
    """``url`` without its database name, the password kept (what a typo in a .env file leaves)."""
    u = make_url(url)
    bare = URL.create(u.drivername, u.username, u.password, u.host, u.port, None, u.query)  # .set() keeps a None's old value
    return bare.render_as_string(hide_password=False)


async def reported_database(url: str) -> str:
    """What ``current_database()`` says on a connection from ``url`` (the app's driver, asyncpg); on a
    server without a database of that name, the name the driver asked for (the connection fails)."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT current_database()")))
    except DBAPIError as exc:
        if not re.search(r"database \"[^\"]*\" does not exist", str(exc)):
            raise
        return make_url(url).username or ""
    finally:
        await engine.dispose()


async def nameless_url(lab: lesson.Lab, prediction: Mapping[str, Any], solution: bool = False) -> bool:
    """Run the buggy suite with the guard on, FLASHCARDS_DATABASE_URL naming no database; show what the
    server said and what the guard did, then judge the learner's prediction of both."""
    from lesson01 import support

    if solution:
        prediction = {}
    elif _unfinished(prediction):  # predict first: the run would give the answer away
        return lesson.verdict("lesson01-prediction", _UNFINISHED)
    url = nameless(lab.admin_url)
    database = await reported_database(url)
    run = lesson.run_suite(support.BUGGY, "--lab-guard-url", f"env:{ENV_VAR}", env={ENV_VAR: url})
    started = bool(run.tests)
    print(f"{ENV_VAR} = {urls.redact(url)}")
    print(f"the server says: current_database() = {database!r}")
    print("the guard: " + ("let the suite start" if started else f"stopped the suite before any test ({database!r} "
                                                                  "is not a test database)"))
    if solution:
        prediction = {"database": database, "suite_starts": started}
    return lesson.verdict("lesson01-prediction", judge_prediction(prediction, database, started,
                                                                  make_url(url).username or ""))


_UNFINISHED = lesson.Verdict(False, "the prediction still has a ... in it: nothing was run yet.",
                             "replace each ... with your guess, a database name in quotes and True or False, "
                             "then run the cell again.")


def _unfinished(prediction: Mapping[str, Any]) -> bool:
    return any(prediction.get(key, ...) is ... for key in ("database", "suite_starts"))


def judge_prediction(prediction: Mapping[str, Any], database: str, started: bool, user: str) -> lesson.Verdict:
    """The prediction's verdict: both parts right, or a hint for the first wrong one."""
    if _unfinished(prediction):
        return _UNFINISHED
    said, starts = str(prediction["database"]).strip().strip("'\""), prediction["suite_starts"]
    if said.lower() in ("", "none", "null", "no database", "nothing"):
        return lesson.Verdict(False, f"you predicted no database at all; the server said {database!r}.",
                              "a PostgreSQL session is always connected to exactly one database: when the URL "
                              "names none, the driver (asyncpg, like libpq) uses the user's name.",
                              f"the user in this URL is {user!r}.")
    if said != database and said.endswith(("_dev", "dev")):
        return lesson.Verdict(False, f"you predicted {said!r}; the server said {database!r}.",
                              "nothing in this URL names the dev database: a driver does not remember the last "
                              "database used; with no name in the URL it takes the user's name.",
                              f"the user in this URL is {user!r}.")
    if said != database:
        return lesson.Verdict(False, f"you predicted {said!r}; the server said {database!r}.",
                              "with no database name in the URL, the driver (asyncpg, like libpq) connects to "
                              "the database named like the user.", f"the user in this URL is {user!r}.")
    if bool(starts) != started:
        return lesson.Verdict(False, f"the database was right, but the guard {'let' if started else 'did not let'} "
                              "the suite start.",
                              f"the guard starts a session only on a database whose name ends in {guard.MARKER!r}, "
                              f"and it judges the name the server reports ({database!r}), not the URL.")
    return lesson.Verdict(True, f"a URL without a database name reached {database!r}, the user's own database, and "
                          "the guard stopped the suite, which would otherwise have dropped tables there. A URL "
                          "does not say which database it reaches: only the server can.")


# ---------------------------------------------------------------- the design task: a safe conftest.py


async def _ours(admin_url: str) -> set[str]:
    """The databases on the server that this process's owner mark names (what a nested run made)."""
    from labsupport.connection import connect

    conn = await connect(admin_url)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database WHERE shobj_description(oid, 'pg_database') = $1",
                                owners.current().comment)
    finally:
        await conn.close()
    return {r["datname"] for r in rows}


def _run(suite: Path, dev_url: str, template: str, folder: Path) -> tuple[lesson.SuiteResult, str | None, str | None]:
    """The suite in the developer's shell: only FLASHCARDS_DATABASE_URL and LESSON01_TEMPLATE are set.
    Returns the run, the database its tests reported and what FLASHCARDS_DATABASE_URL said when the app
    module was imported (None: not imported)."""
    seen, imported = folder / "database.txt", folder / "import.txt"
    for f in (seen, imported):
        f.unlink(missing_ok=True)
    env = {ENV_VAR: dev_url, "LESSON01_TEMPLATE": template, "LESSON01_REPORT": str(seen),
           "LESSON01_IMPORT_REPORT": str(imported)}
    run = lesson.run_suite(suite, "-p", WATCH_PLUGIN, env=env)
    return run, _read_if_written(seen), _read_if_written(imported)


def _read_if_written(report: Path) -> str | None:
    """What the run wrote into ``report``, or None when it wrote nothing."""
    return report.read_text(encoding="utf-8") if report.exists() else None


async def design_task(lab: lesson.Lab, solution: bool = False, answer: Path | None = None) -> bool:
    """Run the exercise suite with the learner's conftest.py (or ``answer``, or the reference answer)
    twice, for real: in the developer's shell, then with a FLASHCARDS_DATABASE_URL that names no
    database; drop whatever a run left; print the verdict and return whether it passed."""
    from lesson01 import support

    dev = await support.ensure_dev(lab)
    template = await support.ensure_template(lab)
    conftest = SOLUTION if solution else answer
    with owners.temp_folder("lesson01-exercise") as tmp:
        suite = tmp / "suite"
        shutil.copytree(support.EXERCISE, suite, ignore=shutil.ignore_patterns("__pycache__"))
        if conftest is not None:
            shutil.copy(conftest, suite / "tests" / "conftest.py")
        ours = await _ours(lab.admin_url)
        before = await support.snapshot(lab.url(dev))
        first = _run(suite, lab.url(dev), template, tmp)
        after = await support.snapshot(lab.url(dev))
        left = sorted(await _ours(lab.admin_url) - ours)
        verdict = judge(first, dev, before.checksum == after.checksum, left)
        left_nameless: list[str] = []
        if verdict.passed:  # only then is the second run worth its seconds
            second = _run(suite, nameless(lab.url(dev)), template, tmp)
            left_nameless = sorted(await _ours(lab.admin_url) - ours - set(left))
            verdict = judge_nameless(second, left_nameless, first[0].passed)
    for name in left + left_nameless:  # made by this check's runs (the owner mark says so): the next try starts clean
        await databases.drop(lab.admin_url, name)
    return lesson.verdict("lesson01", verdict)


def judge(first: tuple[lesson.SuiteResult, str | None, str | None], dev: str, dev_unchanged: bool,
          left: list[str]) -> lesson.Verdict:
    """The verdict on the run in the developer's shell."""
    from lesson01 import support

    result, seen, imported_with = first
    stopped = support.refusal(result)
    if stopped and "not a test database" in stopped and repr(dev) in stopped:
        return lesson.Verdict(False, f"the guard stopped the session before any test ran: the app's URL still "
                              f"reaches {dev!r}, which is not a test database.",
                              f"point {ENV_VAR} at a database of this run's own whose name ends in _test, before "
                              f"the app is imported; {_SECTION3}.", f"the guard's full message was: {stopped}")
    if "KeyError: 'LESSON01_" in result.output or "LESSON01_ADMIN_URL" in stopped or "LESSON01_PREFIX" in stopped:
        return lesson.Verdict(False, "the conftest reads LESSON01_ADMIN_URL or LESSON01_PREFIX, which the "
                              "developer's shell does not have.",
                              f"derive the server and the name from {ENV_VAR} itself: sqlalchemy's make_url(url)"
                              ".database is the dev database's name, labsupport.urls.with_database(url, name) "
                              "the same server with another database.")
    imported_db = make_url(imported_with).database if imported_with else None
    if imported_with is not None and imported_db == dev:
        return lesson.Verdict(False, f"the app module (flashcards.api) was imported while {ENV_VAR} still named "
                              f"{dev!r}: an app that builds its engine at import, as the case file's did, would "
                              "already be bound to the dev database.",
                              f"set {ENV_VAR} first and import the app after it, lower in the file "
                              "(# noqa: E402 keeps linters quiet); the fixed conftest.py in section 3 does that.")
    if stopped:
        return lesson.Verdict(False, f"the session was stopped before any test ran: {stopped}",
                              "the guard asks the server at the session's start, so the test database must "
                              f"exist by then: clone it from LESSON01_TEMPLATE in pytest_sessionstart; {_SECTION3}.")
    if not result.tests:
        line = next((ln for ln in result.output.splitlines() if ln.startswith("E ")), result.summary())
        return lesson.Verdict(False, f"the suite did not start: {lesson.shorten(line.removeprefix('E '), 240)}",
                              "pytest could not load your conftest.py: the line above says why.")
    if not dev_unchanged:
        return lesson.Verdict(False, "the dev database changed during the run: some code still reached it.",
                              f"the app must never see the dev URL; {_SECTION3}.")
    if not result.ok:
        first_problem = result.problems[0] if result.problems else result.summary()
        return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(first_problem, 240)}",
                              "if a table is missing, your database lacks the app's schema: clone the template "
                              f"named in LESSON01_TEMPLATE, do not create an empty database; {_SECTION3}.")
    if not seen or not guard.is_test_database(seen):
        return lesson.Verdict(False, f"the tests ran on {seen!r}, whose name lacks the guard's marker.",
                              "the name must end in lower-case _test (section 3).")
    if not seen.startswith(f"{dev}_"):
        return lesson.Verdict(False, f"the tests ran on {seen!r}, whose name does not start with the dev database's "
                              f"({dev!r}) and an underscore.",
                              f"build the name from make_url({ENV_VAR}).database: <dev database>_<random>_test.")
    if left:
        return lesson.Verdict(False, f"the run left {', '.join(map(repr, left))} on the server (the check has "
                              "dropped it now).", f"drop your test database when the session ends; {_SECTION3}.")
    return lesson.Verdict(True, "")


def judge_nameless(second: tuple[lesson.SuiteResult, str | None, str | None], left: list[str],
                   passed: int) -> lesson.Verdict:
    """The verdict on the run whose FLASHCARDS_DATABASE_URL names no database (the first run was right)."""
    from lesson01 import support

    result, seen, _ = second
    stopped = support.refusal(result)
    if result.tests:
        return lesson.Verdict(False, f"with a {ENV_VAR} that names no database, your conftest still ran the tests"
                              f"{f', on {seen!r}' if seen else ''}: it cannot know which data it protects.",
                              "check make_url(url).database before anything else, and stop the session with "
                              "one line: raise pytest.UsageError('...') in pytest_sessionstart, as the guard does.")
    if left:
        return lesson.Verdict(False, f"with a {ENV_VAR} that names no database, the run stopped but created "
                              f"{', '.join(map(repr, left))} first (the check has dropped it now).",
                              "stop before you clone: check the URL's database name first.")
    if stopped and "not a test database" in stopped:
        return lesson.Verdict(False, f"with a {ENV_VAR} that names no database, the guard stopped the run, not your "
                              "conftest: it pointed the app at the server's default database.",
                              "check make_url(url).database in your conftest and stop the session with one line "
                              f"that says to set {ENV_VAR}: raise pytest.UsageError('...') in pytest_sessionstart.")
    if stopped and ENV_VAR not in stopped:
        return lesson.Verdict(False, f"with a {ENV_VAR} that names no database, the session stopped with: {stopped}",
                              f"say what to do: the line should name {ENV_VAR} and what to set it to.")
    if not stopped:
        lines = [ln.strip(" !") for ln in result.output.splitlines() if ln.strip(" !")]
        line = next((ln for ln in lines if ln.startswith("E ")), lines[-1] if lines else result.summary())
        return lesson.Verdict(False, f"with a {ENV_VAR} that names no database, pytest stopped without the "
                              f"one-line error: {lesson.shorten(line.removeprefix('E '), 200)}",
                              "stop with one line instead: raise pytest.UsageError('...') in pytest_sessionstart "
                              "(pytest.exit or an error at import time prints a traceback).")
    return lesson.Verdict(True, f"{passed} tests passed on a database of their own, named after the dev database, "
                          "with the app imported only after its URL named it; the dev data is identical, nothing "
                          f"was left on the server, and a {ENV_VAR} without a database name stopped the run with "
                          f"one line: {stopped}")
