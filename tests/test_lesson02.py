"""Lesson 02 run headless: both symptoms reproduce, the naive cure leaks, the fix holds.

Run as a learner finds it, in a kernel kept running: the check gives a hint and the same verdict when
run again after Run All; then, with ``solution = True`` in the parameters cell, a second Run All in that
kernel tells the story again, the check passes, and nothing is left behind.
"""

from __future__ import annotations

import pytest

from labsupport import databases
from labsupport.connection import run_sync

pytestmark = pytest.mark.notebook

NOTEBOOK = "02_shared_factory_visibility"
CHECK = "support.check_exercise("


def verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Passed:", "Not yet:"))]


def _assert_the_story(outcomes) -> None:  # type: ignore[no-untyped-def]
    assert "session factory not initialized" in outcomes["symptom_a_message"]
    assert outcomes["symptom_b_rows_seen_by_route"] == 0
    assert outcomes["backend_pids_differ"] is True
    assert outcomes["naive_commit_leaked_rows"] > 0
    assert outcomes["fixed_suite_passed"] is True
    assert outcomes["fixed_rows_left_after_run"] == 0
    for key in ("rollback_ms_per_test", "template_clone_ms_per_test"):
        assert isinstance(outcomes[key], float) and outcomes[key] > 0, (key, outcomes[key])


async def test_lesson02_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,  # type: ignore[no-untyped-def]
                                                                         lab_server) -> None:
    async with live_notebook(NOTEBOOK, solution=False, timing_tests=2) as nb:
        await nb.run_all()
        executed = nb.executed()
        _assert_the_story(executed)
        assert executed["exercise_passed"] is False
        learner_view(executed)
        first = executed.seen(CHECK)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: session_override still ends in"), first
        assert "\nHint: section 3 shows the pieces" in first, first

        again = await nb.run(CHECK)  # after the clean-up cell dropped the template
        assert verdicts(again) == verdicts(first), again
        third = await nb.run(CHECK)
        assert verdicts(third) == verdicts(first) and "Still stuck?" in third, third

        await nb.set_parameters(solution=True)  # the reference answer
        await nb.run_all()  # Run All a second time, in the same kernel
        solved = nb.executed()
        _assert_the_story(solved)
        learner_view(solved)
        assert solved["exercise_passed"] is True
        (verdict,) = verdicts(solved.seen(CHECK))
        assert verdict.startswith("Passed: all 5 checks pass, the hidden ones included"), verdict
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []
