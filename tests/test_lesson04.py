"""Lesson 04 run headless: both races reproduce on one shared database, xdist_group
hides them on one worker, and a database per worker passes every run and leaves nothing behind.

One execution in a kernel kept running, as a learner works it: with the learner's stub (the exercise
fails its self-check, the notebook still runs to the end), then with the reference answer (the check
passes). The measurement is kept small here; `labsupport run 04` measures with the notebook's defaults.
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


def _assert_the_story(outcomes, prefix: str, repeats: int) -> None:  # type: ignore[no-untyped-def]
    messages = outcomes["race_messages"]
    assert any('duplicate key value violates unique constraint "pg_type_typname_nsp_index"' in m for m in messages)
    assert any(re.search(r'relation "\w+" does not exist', m) for m in messages), messages
    assert outcomes["sequential_buggy_passed"] is True

    counts = outcomes["xdist_group_worker_counts"]
    assert len(counts) == 1 and next(iter(counts)).startswith("gw") and sum(counts.values()) == 20, counts

    assert outcomes["fixed_parallel_runs"] == f"{repeats}/{repeats}"
    seen = {n for n in outcomes["worker_databases_seen"] if re.fullmatch(rf"{prefix}_fx_gw\d+_test", n)}
    assert len(seen) >= 2, outcomes["worker_databases_seen"]
    assert outcomes["databases_left_after_run"] == 0

    speedups = outcomes["speedups"]
    assert set(speedups) == {"0 ms/test, -n 2", "50 ms/test, -n 2"}, speedups
    assert all(isinstance(v, float) and v > 0 for v in speedups.values()), speedups
    assert outcomes["cpu_count"] == os.cpu_count()
    said = outcomes.seen("evidence.interpret(")  # written from the figures: one line per worker count
    assert said.startswith("-n 2: ") and ("crossover" in said), said


def verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Passed:", "Not yet:"))]


# The cells that measure speed hold the lab's timing lock: never measured beside lesson 03's.
MEASURING = ("evidence.time_suites(",)


async def test_lesson04_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,  # type: ignore[no-untyped-def]
                                                                         lab_server) -> None:
    """One execution serves the story, the learner's stub and the reference answer: Run All with the
    stub (the exercise fails its self-check, the notebook still runs to the end), the check again
    after the clean-up, then ``solution = True`` in the parameters cell and the check once more."""
    prefix, repeats = f"t04s_{secrets.token_hex(3)}", 3
    try:
        async with live_notebook(NOTEBOOK, db_prefix=prefix, solution=False, repeats=repeats, **SMALL) as nb:
            await nb.run_all(alone=MEASURING)
            executed = nb.executed()
            _assert_the_story(executed, prefix, repeats)
            assert executed["exercise_passed"] is False
            learner_view(executed)
            first = executed.seen(CHECK)
            assert verdicts(first) and verdicts(first)[0].startswith("Not yet: two workers got the same name"), first
            assert "\nHint: " in first and "section 3" in first, first

            again = await nb.run(CHECK)  # after the clean-up cell
            assert verdicts(again) == verdicts(first), again
            third = await nb.run(CHECK)
            assert verdicts(third) == verdicts(first), third

            await nb.set_parameters(solution=True)  # the reference answer
            solved = await nb.run(CHECK)
            (verdict,) = verdicts(solved)
            assert verdict.startswith("Passed: all ") and "the hidden ones included" in verdict, verdict
            assert nb.executed()["exercise_passed"] is True
            await nb.run("print(await lab.clean_up())")
            assert _left(lab_server.url, nb.prefix) == []
    finally:
        left = _left(lab_server.url, prefix)
        for name in left:
            run_sync(databases.drop(lab_server.url, name))
    assert left == [], f"the notebook left databases on the server: {left}"


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
