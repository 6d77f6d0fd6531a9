"""Lesson 04 run headless by papermill: both races reproduce on one shared database, xdist_group
hides them on one worker, and a database per worker passes every run and leaves nothing behind.

Run once with the reference answer (the exercise passes) and once with the learner's stub (the
exercise fails its self-check, the notebook still runs to the end). The measurement is kept
small here; `labsupport run 04` measures with the notebook's defaults.
"""

from __future__ import annotations

import os
import re
import secrets

import pytest

from labsupport import databases
from labsupport.connection import run_sync

pytestmark = pytest.mark.notebook

NOTEBOOK = "04_parallel_workers"
CHECK = "evidence.check_exercise("
SMALL = {"work_ms": [0, 50], "worker_counts": [2], "measure_tests": 20, "measure_repeats": 1, "run_doctor": False}


def _left(admin_url: str, prefix: str) -> list[str]:
    return run_sync(databases.names_under(admin_url, prefix))


@pytest.mark.usefixtures("timing_alone")  # its measurement must not overlap lesson 03's
def test_lesson04_with_the_solution(run_notebook, lab_server, learner_view) -> None:  # type: ignore[no-untyped-def]
    prefix = f"t04s_{secrets.token_hex(3)}"
    try:
        outcomes = run_notebook(NOTEBOOK, db_prefix=prefix, solution=True, repeats=5, **SMALL)
    finally:
        left = _left(lab_server.url, prefix)
        for name in left:
            run_sync(databases.drop(lab_server.url, name))
    assert left == [], f"the notebook left databases on the server: {left}"

    messages = outcomes["race_messages"]
    assert any('duplicate key value violates unique constraint "pg_type_typname_nsp_index"' in m for m in messages)
    assert any(re.search(r'relation "\w+" does not exist', m) for m in messages), messages
    assert outcomes["sequential_buggy_passed"] is True

    counts = outcomes["xdist_group_worker_counts"]
    assert len(counts) == 1 and next(iter(counts)).startswith("gw") and sum(counts.values()) == 20, counts

    assert outcomes["fixed_parallel_runs"] == "5/5"
    seen = {n for n in outcomes["worker_databases_seen"] if re.fullmatch(rf"{prefix}_fx_gw\d+_test", n)}
    assert len(seen) >= 2, outcomes["worker_databases_seen"]
    assert outcomes["databases_left_after_run"] == 0

    speedups = outcomes["speedups"]
    assert set(speedups) == {"0 ms/test, -n 2", "50 ms/test, -n 2"}, speedups
    assert all(isinstance(v, float) and v > 0 for v in speedups.values()), speedups
    assert outcomes["cpu_count"] == os.cpu_count()
    assert outcomes["exercise_passed"] is True
    learner_view(outcomes)
    (verdict,) = verdicts(outcomes.seen(CHECK))
    assert verdict.startswith("Passed: all ") and "the hidden ones included" in verdict, verdict
    said = outcomes.seen("evidence.interpret(")  # written from the figures: one line per worker count
    assert said.startswith("-n 2: ") and ("crossover" in said), said


def verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Passed:", "Not yet:"))]


async def test_lesson04_as_the_learner_finds_it_and_works_it(live_notebook, learner_view, lab_server) -> None:  # type: ignore[no-untyped-def]
    async with live_notebook(NOTEBOOK, solution=False, repeats=1,
                             **{**SMALL, "work_ms": [0], "measure_tests": 10}) as nb:
        await nb.run_all()
        executed = nb.executed()
        assert executed["exercise_passed"] is False
        assert executed["fixed_parallel_runs"] == "1/1"  # the rest of the lesson ran to the end
        assert executed["databases_left_after_run"] == 0
        learner_view(executed)
        first = executed.seen(CHECK)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: two workers got the same name"), first
        assert "\nHint: " in first and "section 3" in first, first

        again = await nb.run(CHECK)  # after the clean-up cell
        assert verdicts(again) == verdicts(first), again
        third = await nb.run(CHECK)
        assert verdicts(third) == verdicts(first), third
        await nb.run("print(await lab.clean_up())")
        assert _left(lab_server.url, nb.prefix) == []


def test_interpretation_holds_for_every_outcome() -> None:
    """The text that reads the measurement never claims a crossover the figures do not show."""
    import sys

    from labsupport.teaching import lesson

    sys.path.insert(0, str(lesson.SCENARIOS))
    from lesson04 import support

    work = [0, 20, 50, 100]
    never = {f"{w} ms/test, -n {n}": v for w in work for n, v in ((2, 0.9), (4, 0.7))}
    said = " ".join(support.interpret(never, work, [2, 4], 2).split())
    assert "-n 2: never faster than -n 0 here (best 0.9x" in said and "below the crossover" in said
    assert "2 CPUs" in said
    climbing = {**never, "50 ms/test, -n 2": 1.2, "100 ms/test, -n 2": 1.5}
    said = " ".join(support.interpret(climbing, work, [2, 4], 8).split())
    assert "-n 2: slower than -n 0 below 50 ms" in said and "best 1.5x, at 100 ms" in said
    assert "CPUs" not in said
    always = {k: 1.3 for k in never}
    assert "at every measured point" in support.interpret(always, work, [2], 4)
