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
SMALL = {"work_ms": [0, 50], "worker_counts": [2], "measure_tests": 20, "measure_repeats": 1, "run_doctor": False}


def _left(admin_url: str, prefix: str) -> list[str]:
    return run_sync(databases.names_under(admin_url, prefix))


@pytest.mark.usefixtures("timing_alone")  # its measurement must not overlap lesson 03's
def test_lesson04_with_the_solution(run_notebook, lab_server) -> None:  # type: ignore[no-untyped-def]
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


def test_lesson04_with_the_learners_stub(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook(NOTEBOOK, solution=False, repeats=1, **{**SMALL, "work_ms": [0], "measure_tests": 10})

    assert outcomes["exercise_passed"] is False
    assert outcomes["fixed_parallel_runs"] == "1/1"  # the rest of the lesson ran to the end
    assert outcomes["databases_left_after_run"] == 0
