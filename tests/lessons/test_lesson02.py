"""Lesson 02 run in a kernel kept running: both symptoms reproduce, the naive cure leaks, the fix holds;
the checks give a hint and the same verdict when run again after Run All; with ``solution = True`` a
second Run All passes both. Its two exercises' checks then run for real, answer by answer: the stub
fails with its hint, the reference answer passes, each wrong answer gets a hint of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from exercise_support import own_lab, verdict_and_hint, verdicts

from labsupport import databases
from labsupport.connection import run_sync
from labsupport.teaching.exercises.lesson02 import check

pytestmark = pytest.mark.notebook

NOTEBOOK = "02_shared_factory_visibility"
LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "scenarios" / "lesson02"
DESIGN = "check.design_task("
PREDICTION = "check.visibility("


def _assert_the_story(outcomes) -> None:
    assert "session factory not initialized" in outcomes["symptom_a_message"]
    assert outcomes["symptom_b_rows_seen_by_route"] == 0
    assert outcomes["backend_pids_differ"] is True
    assert outcomes["naive_commit_leaked_rows"] > 0
    assert outcomes["fixed_suite_passed"] is True
    assert outcomes["fixed_rows_left_after_run"] == 0
    for key in ("rollback_ms_per_test", "template_clone_ms_per_test"):
        assert isinstance(outcomes[key], float) and outcomes[key] > 0, (key, outcomes[key])


@pytest.mark.starts_first(3)
async def test_lesson02_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,
                                                                         lab_server) -> None:
    async with live_notebook(NOTEBOOK, solution=False, timing_tests=2) as nb:
        await nb.run_all()
        executed = nb.executed()
        _assert_the_story(executed)
        assert executed["exercise_passed"] is False
        learner_view(executed)
        assert verdicts(executed.seen(PREDICTION)) == ["Not yet: the prediction still has a ... in it: nothing was run yet."]
        first = executed.seen(DESIGN)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: session_override still ends in"), first
        assert "\nHint: section 3 shows the pieces" in first, first

        again = await nb.run(DESIGN)  # after the clean-up cell dropped the template
        assert verdicts(again) == verdicts(first), again
        third = await nb.run(DESIGN)
        assert verdicts(third) == verdicts(first) and "Still stuck?" in third, third

        await nb.set_parameters(solution=True)  # the reference answers
        await nb.run_all()  # Run All a second time, in the same kernel
        solved = nb.executed()
        _assert_the_story(solved)
        learner_view(solved)
        assert solved["exercise_passed"] is True
        (verdict,) = verdicts(solved.seen(DESIGN))
        assert verdict.startswith("Passed: all 5 checks pass, the hidden ones included"), verdict
        (verdict,) = verdicts(solved.seen(PREDICTION))
        assert verdict.startswith("Passed: a committed row is seen by every connection"), verdict
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []


def test_no_answer_or_hidden_check_sits_beside_the_stub() -> None:
    """The learner's file browser shows notebooks/: the reference answer and the hidden checks live in the package."""
    names = {p.name for p in LESSON.rglob("*") if "__pycache__" not in p.parts}  # JupyterLab hides bytecode
    assert not {n for n in names if "solution" in n or "hidden" in n}, names
    assert check.HIDDEN.is_file() and not check.HIDDEN.is_relative_to(LESSON.parent.parent)
    support = (LESSON / "support.py").read_text(encoding="utf-8")
    assert "Verdict" not in support and "hidden" not in support.lower(), "support.py (shown in the lesson) holds a check"


# ---------------------------------------------------------------- the exercises' checks, answer by answer


@pytest.fixture
async def lab(lab_server) -> AsyncIterator[object]:
    """A lesson-02 lab of this test's own on the lab's server (its own prefix), dropped afterwards."""
    async for opened in own_lab(lab_server.url, "02"):
        yield opened


async def test_the_prediction_gets_a_hint_for_each_wrong_guess_and_passes_the_right_one(
        lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert await check.visibility(lab, {"commit": 1, "read_uncommitted": ..., "same_connection": 1}) is False
    assert "nothing was run yet" in verdict_and_hint(capsys)[0]
    right = {"commit": 1, "read_uncommitted": 0, "same_connection": 1}
    wrong = {"commit": "once a transaction commits, every statement that starts later sees",
             "read_uncommitted": "it runs READ UNCOMMITTED as READ COMMITTED",
             "same_connection": "a transaction sees its own uncommitted rows"}
    for case, expected in wrong.items():
        assert await check.visibility(lab, right | {case: 1 - right[case]}) is False
        verdict, hint = verdict_and_hint(capsys)
        assert verdict.startswith("Not yet: you predicted") and expected in hint, (case, verdict)
    assert await check.visibility(lab, right) is True
    assert verdict_and_hint(capsys)[0].startswith("Passed: a committed row is seen by every connection")
    assert await check.visibility(lab, {}, solution=True) is True


SOLUTION = Path(check.__file__).with_name("override_solution.py")


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The reference answer with one thing changed: a wrong answer a learner could write."""
    text = SOLUTION.read_text(encoding="utf-8")
    assert old in text, f"the reference answer no longer contains {old!r}"
    path = tmp_path / f"{name}.py"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


async def test_the_design_task_passes_the_reference_and_gives_each_mistake_its_own_hint(
        lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await check.design_task(lab) is False  # the stub as committed
    verdict, hint = verdict_and_hint(capsys)
    assert verdict.startswith("Not yet: session_override still ends in") and "dependency_overrides" in hint

    assert await check.design_task(lab, solution=True) is True
    assert verdict_and_hint(capsys)[0].startswith("Passed: all 5 checks pass")
    assert await check.design_task(lab, answer=SOLUTION) is True  # the same answer, as the learner's file

    cases = {  # each wrong answer, with what its verdict and its hint must say
        _variant(tmp_path, "no_savepoints", 'join_transaction_mode="create_savepoint",', ""):
            ("commit() ended the test's outer transaction", "create_savepoint"),
        _variant(tmp_path, "override_left_installed", "    del app.dependency_overrides[db.get_session]\n", ""):
            ("the override is still installed after the test", "take the entry out"),
        _variant(tmp_path, "one_session_for_every_request",
                 "    async def session_for_request():\n        async with factory() as session:\n            yield session\n",
                 "    shared = factory()\n\n    async def session_for_request():\n        yield shared\n"):
            ("the requests share one session", "a new one each time"),
        _variant(tmp_path, "the_apps_own_engine", "bind=lab_connection, ", "bind=db.engine, "):
            ("a route did not see the row the test inserted", "bind each request's session to lab_connection"),
    }
    for answer, (said, hinted) in cases.items():
        assert await check.design_task(lab, answer=answer) is False, answer.name
        verdict, hint = verdict_and_hint(capsys)
        assert said in verdict and hinted in hint, (answer.name, verdict)
