"""Lesson 02 run headless by papermill: both symptoms reproduce, the naive cure leaks, the fix holds.

Run once with the reference answer (the exercise passes) and once with the learner's stub
(the exercise fails its self-check, the notebook still runs to the end).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.notebook

NOTEBOOK = "02_shared_factory_visibility"


def test_lesson02_with_the_solution(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook(NOTEBOOK, solution=True, timing_tests=4)

    assert "session factory not initialized" in outcomes["symptom_a_message"]
    assert outcomes["symptom_b_rows_seen_by_route"] == 0
    assert outcomes["backend_pids_differ"] is True
    assert outcomes["naive_commit_leaked_rows"] > 0
    assert outcomes["fixed_suite_passed"] is True
    assert outcomes["fixed_rows_left_after_run"] == 0
    for key in ("rollback_ms_per_test", "template_clone_ms_per_test"):
        assert isinstance(outcomes[key], float) and outcomes[key] > 0, (key, outcomes[key])
    assert outcomes["exercise_passed"] is True


def test_lesson02_with_the_learners_stub(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook(NOTEBOOK, solution=False, timing_tests=2)

    assert outcomes["exercise_passed"] is False
    assert outcomes["fixed_suite_passed"] is True  # the rest of the lesson ran to the end
    assert outcomes["fixed_rows_left_after_run"] == 0
