"""Lesson 01 run in a kernel kept running, as a learner leaves it and then with the solution, and its
two exercises' checks run for real on the lab's server: the stub fails with its hint, the reference
answer passes, and each wrong answer gets a hint of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from exercise_support import own_lab, verdict_and_hint, verdicts

from labsupport import databases
from labsupport.connection import run_sync
from labsupport.teaching.exercises.lesson01 import check

pytestmark = pytest.mark.notebook

LESSON = Path(__file__).resolve().parents[2] / "notebooks" / "scenarios" / "lesson01"
DESIGN = "check.design_task("
PREDICTION = "check.nameless_url("


def _assert_the_story(outcomes: dict[str, object]) -> None:
    assert isinstance(outcomes["dev_rows_before"], int) and outcomes["dev_rows_before"] > 0
    assert outcomes["dev_rows_after_buggy"] == 0, "the buggy suite no longer empties the dev database"
    assert outcomes["fixed_suite_passed"] is True
    assert outcomes["dev_checksum_unchanged"] is True
    assert outcomes["guard_refused"] is True and outcomes["engines_refused"] is True
    divergence = outcomes["sqlite_divergence"]
    assert isinstance(divergence, str) and divergence.strip()
    assert "gen_random_uuid" in divergence or "DID NOT RAISE" in divergence, divergence


@pytest.mark.starts_first(2)
async def test_01_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,
                                                                   lab_server) -> None:
    """Run All with the stubs; then the design check again (the clean-up has dropped what it needs), again;
    then ``solution = True`` in the parameters cell and Run All once more in the same kernel: the
    story holds again and both checks pass; nothing is left on the server at the end."""
    async with live_notebook("01_dev_database_purge", solution=False) as nb:
        await nb.run_all()
        executed = nb.executed()
        _assert_the_story(executed)
        assert executed["exercise_passed"] is False, "the design task's stub passes its check before anyone edited it"
        learner_view(executed)
        assert verdicts(executed.seen(PREDICTION)) == ["Not yet: the prediction still has a ... in it: nothing was run yet."]
        first = executed.seen(DESIGN)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: the guard stopped the session"), first
        assert "\nHint: " in first and "section 3" in first, first

        again = await nb.run(DESIGN)  # after the clean-up cell: the dev database and the template are gone
        assert "(section 3) was missing" in again and "(section 1) was missing" in again, again
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
        assert verdict.startswith("Passed: 5 tests passed on a database of their own"), verdict
        (verdict,) = verdicts(solved.seen(PREDICTION))
        assert verdict.startswith("Passed: a URL without a database name reached"), verdict
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []


def test_every_suite_runs_the_same_tests() -> None:
    """Only conftest.py differs between the suites, so their results can be compared."""
    reference = (LESSON / "buggy" / "tests" / "test_flashcards.py").read_text(encoding="utf-8")
    for suite in ("sqlite", "fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_flashcards.py").read_text(encoding="utf-8") == reference, suite
    where = (LESSON / "buggy" / "tests" / "test_where.py").read_text(encoding="utf-8")
    for suite in ("fixed", "exercise"):
        assert (LESSON / suite / "tests" / "test_where.py").read_text(encoding="utf-8") == where, suite


def test_no_answer_or_check_sits_beside_the_stubs() -> None:
    """The learner's file browser shows notebooks/: the reference answer lives in the package."""
    names = {p.name for p in LESSON.rglob("*") if "__pycache__" not in p.parts}  # JupyterLab hides bytecode
    assert not {n for n in names if "solution" in n or "hidden" in n}, names
    assert check.SOLUTION.is_file() and not check.SOLUTION.is_relative_to(LESSON.parent.parent)


# ---------------------------------------------------------------- the exercises' checks, answer by answer


@pytest.fixture
async def lab(lab_server) -> AsyncIterator[object]:
    """A lesson-01 lab of this test's own on the lab's server (its own prefix), dropped afterwards."""
    async for opened in own_lab(lab_server.url, "01"):
        yield opened


async def test_the_prediction_gets_a_hint_for_each_wrong_guess_and_passes_the_right_one(
        lab, capsys: pytest.CaptureFixture[str]) -> None:
    assert await check.nameless_url(lab, {"database": ..., "suite_starts": ...}) is False
    verdict, hint = verdict_and_hint(capsys)
    assert "nothing was run yet" in verdict and "replace each ..." in hint
    assert "the server says" not in verdict, "the stub's check gave the answer away"

    user = check.make_url(lab.admin_url).username
    wrong = {
        "": "always connected to exactly one database",
        lab.name("dev"): "nothing in this URL names the dev database",
        "app_test": "connects to the database named like the user",
    }
    for guess, expected in wrong.items():
        assert await check.nameless_url(lab, {"database": guess, "suite_starts": False}) is False
        verdict, hint = verdict_and_hint(capsys)
        assert verdict.startswith("Not yet: you predicted") and expected in hint, (guess, verdict)
    assert await check.nameless_url(lab, {"database": user, "suite_starts": True}) is False
    assert "judges the name the server reports" in verdict_and_hint(capsys)[1]

    assert await check.nameless_url(lab, {"database": user, "suite_starts": False}) is True
    assert verdict_and_hint(capsys)[0].startswith(f"Passed: a URL without a database name reached {user!r}")
    assert await check.nameless_url(lab, {}, solution=True) is True


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The reference answer with one thing changed: a wrong answer a learner could write."""
    text = check.SOLUTION.read_text(encoding="utf-8")
    assert old in text, f"the reference answer no longer contains {old!r}"
    path = tmp_path / f"{name}.py"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


APP_IMPORT = ("from asgi_lifespan import LifespanManager  # noqa: E402\nfrom httpx import ASGITransport, AsyncClient  # noqa: E402\n\n"
              "from flashcards.api import app  # noqa: E402  ... then the app\n")


async def test_the_design_task_passes_the_reference_and_gives_each_mistake_its_own_hint(
        lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await check.design_task(lab) is False  # the stub as committed
    verdict, hint = verdict_and_hint(capsys)
    assert verdict.startswith("Not yet: the guard stopped the session") and "before the app is imported" in hint

    assert await check.design_task(lab, solution=True) is True
    verdict, _ = verdict_and_hint(capsys)
    assert verdict.startswith("Passed: 5 tests passed") and "names no database: set it" in verdict, verdict

    import_first = _variant(tmp_path, "import_first", APP_IMPORT, "")  # the app's import moves to the top
    import_first.write_text(import_first.read_text().replace("import pytest\n", "import pytest\n" + APP_IMPORT, 1))
    cases = {  # each wrong answer, with what its verdict and its hint must say
        import_first: ("was imported while FLASHCARDS_DATABASE_URL still named", "import the app after it"),
        _variant(tmp_path, "no_nameless_check", 'if DEV else None\n\nif TEST_DB', '\n\nif TEST_DB'):
            ("names no database, your conftest still ran the tests", "pytest.UsageError"),
        _variant(tmp_path, "no_drop", "        run_sync(databases.drop(DEV_URL, TEST_DB))", "        pass"):
            ("the run left", "drop your test database when the session ends"),
        _variant(tmp_path, "exit_not_usage_error", "raise pytest.UsageError(", "pytest.exit("):
            ("names no database, pytest stopped without", "stop with one line instead"),
    }
    fixed = LESSON / "fixed" / "tests" / "conftest.py"  # section 3's conftest, copied as it is
    cases[fixed] = ("reads LESSON01_ADMIN_URL or LESSON01_PREFIX", "derive the server and the name")
    before = set(await databases.names_under(lab.admin_url, lab.prefix))
    for answer, (said, hinted) in cases.items():
        assert await check.design_task(lab, answer=answer) is False, answer.name
        verdict, hint = verdict_and_hint(capsys)
        assert said in verdict and hinted in hint, (answer.name, verdict)
    assert set(await databases.names_under(lab.admin_url, lab.prefix)) == before, "a check left a database"
