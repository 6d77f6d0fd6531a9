"""Lesson 01 run headless by papermill, once as a learner leaves it and once with the solution;
the assertions are on what the notebook recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

LESSON = Path(__file__).resolve().parent.parent / "notebooks" / "scenarios" / "lesson01"


def _assert_the_story(outcomes: dict[str, object]) -> None:
    assert isinstance(outcomes["dev_rows_before"], int) and outcomes["dev_rows_before"] > 0
    assert outcomes["dev_rows_after_buggy"] == 0, "the buggy suite no longer empties the dev database"
    assert outcomes["dev_rows_after_fixed"] == outcomes["dev_rows_before"]
    assert outcomes["dev_checksum_unchanged"] is True
    assert outcomes["guard_refused"] is True
    divergence = outcomes["sqlite_divergence"]
    assert isinstance(divergence, str) and divergence.strip()
    assert "gen_random_uuid" in divergence or "DID NOT RAISE" in divergence, divergence


def test_01_with_the_solution(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook("01_dev_database_purge", solution=True)
    _assert_the_story(outcomes)
    assert outcomes["exercise_passed"] is True


def test_01_as_the_learner_finds_it(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook("01_dev_database_purge", solution=False)
    _assert_the_story(outcomes)
    assert outcomes["exercise_passed"] is False, "the exercise stub passes its check before anyone edited it"


def test_every_suite_runs_the_same_tests() -> None:
    """Only conftest.py differs between the suites, so their results can be compared."""
    reference = (LESSON / "buggy" / "tests" / "test_flashcards.py").read_text(encoding="utf-8")
    for suite in ("sqlite", "fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_flashcards.py").read_text(encoding="utf-8") == reference, suite
    where = (LESSON / "buggy" / "tests" / "test_where.py").read_text(encoding="utf-8")
    for suite in ("fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_where.py").read_text(encoding="utf-8") == where, suite
