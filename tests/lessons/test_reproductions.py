"""Every bug the lessons reproduce happens on every run, also on a busy machine.

Each reproduction runs REPEATS times in a row (20 by default; ``LAB_REPRO_REPEATS`` changes it)
with a CPU hog beside it, the way CI's neighbours load a runner. A miss is a failure that names
the run and what it gave instead: a lesson that stopped reproducing its bug teaches nothing.
Marked ``slow``: ``make test-slow`` runs them (CI does, after ``make test``) and prints the
counts from ``build/reproductions.txt``.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from labsupport import schema
from labsupport.connection import run_sync
from labsupport.teaching import lesson

pytestmark = pytest.mark.slow

REPEATS = int(os.environ.get("LAB_REPRO_REPEATS", "20"))
REPORT = Path(__file__).resolve().parents[2] / "build" / "reproductions.txt"
SCENARIOS = lesson.SCENARIOS
sys.path.insert(0, str(SCENARIOS))  # the lessons' own helpers, as the notebooks import them


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """A process that keeps one core busy for the whole test."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


@pytest.fixture
def lab(lab_server) -> Iterator[lesson.Lab]:
    """A lesson's view of the server, with a prefix of its own, dropped afterwards."""
    opened = lesson.open_lab(lab_server.url, f"trep_{secrets.token_hex(3)}")
    yield opened
    run_sync(opened.cleanup())


def _repeat(what: str, attempt: Callable[[int], str | None]) -> None:
    """Run ``attempt`` REPEATS times; it returns None when the bug showed, else what it saw."""
    misses = [(i, seen) for i in range(REPEATS) if (seen := attempt(i)) is not None]
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as report:  # xdist hides a test's prints: CI shows this file
        report.write(f"{what}: reproduced {REPEATS - len(misses)}/{REPEATS} with a CPU hog beside it\n")
    assert not misses, f"{what} reproduced {REPEATS - len(misses)}/{REPEATS}; first miss, run {misses[0][0]}: {misses[0][1]}"


def _miss(result: lesson.SuiteResult, pattern: str, what: str) -> str | None:
    try:
        result.expect(pattern, what)
        return None
    except AssertionError as miss:
        return str(miss)


@pytest.mark.usefixtures("cpu_hog")
def test_lesson04_both_races_every_time(lab: lesson.Lab) -> None:
    shared = {"TEST_DATABASE_URL": lab.url(run_sync(lab.create_database("shared"))), "LESSON04_LINE_UP": "1"}
    buggy = SCENARIOS / "lesson04" / "buggy"

    _repeat("lesson 04's catalog collision", lambda _: _miss(
        lesson.run_suite(buggy, "-n", "2", env=shared), "pg_type_typname_nsp_index", "the catalog collision"))
    _repeat("lesson 04's dropped tables", lambda _: _miss(
        lesson.run_suite(buggy, "-n", "2", env=shared | {"LESSON04_SCHEMA": "first_worker"}),
        r'relation "\w+" does not exist', "the dropped tables"))


@pytest.mark.usefixtures("cpu_hog")
def test_lesson03_different_loop_every_time(lab: lesson.Lab) -> None:
    from lesson03 import support as h

    url = run_sync(h.fresh_database(lab, run_sync(h.make_template(lab)), "buggy"))

    def attempt(_: int) -> str | None:
        run = h.run(h.BUGGY, url)
        return _miss(run, h.DIFFERENT_LOOP, "the different-loop Future") or _miss(
            run, h.ANOTHER_OPERATION, "'another operation is in progress'")

    _repeat("lesson 03's different-loop Future", attempt)


@pytest.mark.usefixtures("cpu_hog")
def test_lesson02_both_symptoms_and_the_leak_every_time(lab: lesson.Lab) -> None:
    template = run_sync(lab.create_database("template"))
    run_sync(schema.create_all(lab.url(template), _metadata()))
    l02 = SCENARIOS / "lesson02"

    def attempt(i: int) -> str | None:
        with tempfile.TemporaryDirectory(prefix="trep02-") as evidence:
            def env(suite: str) -> dict[str, str]:
                url = lab.url(run_sync(lab.create_database(f"{suite}_{i}", template=template)))
                return {"LAB_TEST_DATABASE_URL": url, "FLASHCARDS_DATABASE_URL": url, "LESSON02_EVIDENCE": evidence}

            a = lesson.run_suite(l02 / "symptom_a", env=env("symptom_a"))
            if (miss := _miss(a, "session factory not initialized", "symptom A")) is not None:
                return miss
            lesson.run_suite(l02 / "symptom_b", env=env("symptom_b"))
            b = json.loads((Path(evidence) / "symptom_b.json").read_text())
            if b["rows_seen_by_route"] != 0 or b["fixture"]["pid"] == b["route"]["pid"]:
                return f"symptom B: the route saw {b['rows_seen_by_route']} rows, pids {b['fixture']['pid']}/{b['route']['pid']}"
            lesson.run_suite(l02 / "naive_commit", env=env("naive_commit"))
            seen = [json.loads((Path(evidence) / f"naive_{t}.json").read_text()) for t in ("first", "second")]
            if max(s["rows_seen"] - s["rows_of_this_test"] for s in seen) <= 0:
                return f"the naive commit leaked nothing: {seen}"
        return None

    _repeat("lesson 02's symptoms and leak", attempt)


@pytest.mark.usefixtures("cpu_hog")
def test_lesson01_purge_every_time(lab: lesson.Lab) -> None:
    from lesson01 import support

    dev = run_sync(lab.create_database("dev"))
    runner = support.Runner.for_lab(lab, dev)

    def attempt(_: int) -> str | None:
        run_sync(support.seed(lab.url(dev)))
        before = run_sync(support.snapshot(lab.url(dev)))
        run = runner.run(support.BUGGY)
        after = run_sync(support.snapshot(lab.url(dev)))
        if before.total > 0 and after.total == 0 and runner.database_seen == dev:
            return None
        return f"rows {before.total} -> {after.total}, the tests ran on {runner.database_seen!r}: {run.summary()}"

    _repeat("lesson 01's purge", attempt)


def _metadata():
    from flashcards.models import Base

    return Base.metadata

