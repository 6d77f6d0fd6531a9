"""Lesson 01 run headless in a kernel kept running, as a learner leaves it and then with the solution;
the assertions are on what the notebook recorded and what the learner reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from labsupport import databases
from labsupport.connection import run_sync

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


CHECK = "support.check_exercise("


def verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Passed:", "Not yet:"))]


async def test_01_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,  # type: ignore[no-untyped-def]
                                                                   lab_server) -> None:
    """Run All with the stub; then the check again (the clean-up has dropped what it needs), again;
    then ``solution = True`` in the parameters cell and Run All once more in the same kernel: the
    story holds again and the check passes; nothing is left on the server at the end."""
    async with live_notebook("01_dev_database_purge", solution=False) as nb:
        await nb.run_all()
        executed = nb.executed()
        _assert_the_story(executed)
        assert executed["exercise_passed"] is False, "the exercise stub passes its check before anyone edited it"
        learner_view(executed)
        first = executed.seen(CHECK)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: the guard stopped the session"), first
        assert "\nHint: " in first and "section 4" in first, first

        again = await nb.run(CHECK)  # after the clean-up cell: the dev database and the template are gone
        assert "(section 4) was missing: made it now" in again and "(section 1) was missing" in again, again
        assert verdicts(again) == verdicts(first), again
        third = await nb.run(CHECK)
        assert verdicts(third) == verdicts(first) and "Still stuck?" in third, third

        await nb.set_parameters(solution=True)  # the reference answer
        await nb.run_all()  # Run All a second time, in the same kernel
        solved = nb.executed()
        _assert_the_story(solved)
        learner_view(solved)
        assert solved["exercise_passed"] is True
        assert len(verdicts(solved.seen(CHECK))) == 1, solved.seen(CHECK)
        assert verdicts(solved.seen(CHECK))[0].startswith("Passed: 5 tests passed on "), solved.seen(CHECK)
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []


def test_every_suite_runs_the_same_tests() -> None:
    """Only conftest.py differs between the suites, so their results can be compared."""
    reference = (LESSON / "buggy" / "tests" / "test_flashcards.py").read_text(encoding="utf-8")
    for suite in ("sqlite", "fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_flashcards.py").read_text(encoding="utf-8") == reference, suite
    where = (LESSON / "buggy" / "tests" / "test_where.py").read_text(encoding="utf-8")
    for suite in ("fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_where.py").read_text(encoding="utf-8") == where, suite
