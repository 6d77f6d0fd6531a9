"""Lesson 03 run headless (its outcomes), and labsupport.pytest_plugin.engines' one-line misuse message."""

from __future__ import annotations

import asyncio
import re
import secrets
import textwrap
from pathlib import Path

import pytest
from exercise_support import verdicts
from nbclient.exceptions import CellExecutionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from labsupport import databases
from labsupport.connection import run_sync
from labsupport.pytest_plugin import engines
from labsupport.teaching import lesson

NOTEBOOK = "03_different_loop_future"
DIFFERENT_LOOP = r"RuntimeError: Task <Task pending .*> got Future <Future pending .*> attached to a different loop"
ANOTHER_OPERATION = "cannot perform operation: another operation is in progress"
FIXES = {"engine_per_test", "nullpool", "session_loop"}
CHECK = "h.check_exercise("


# The cells that measure speed (section 4's timed runs, which section 5 reuses, and section 5) hold the
# lab's timing lock: never measured beside lesson 04's.
MEASURING = ("h.run_fix(", "h.measure(")


PREDICT_CHECK = "h.check_prediction("


@pytest.mark.starts_first(1)
@pytest.mark.notebook
async def test_03_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,
                                                                   lab_server) -> None:
    """One execution serves the story, the learner's stubs and the reference answers: Run All with
    both exercises as the learner finds them; each check then says what to do, again after the
    clean-up; then ``solution = True`` in the parameters cell and both checks pass."""
    async with live_notebook(NOTEBOOK, solution=False, repeats=3, tests=100) as nb:
        await nb.run_all(alone=MEASURING)
        outcomes = nb.executed()
        assert re.search(DIFFERENT_LOOP, outcomes["different_loop_message"]), outcomes["different_loop_message"]
        assert ANOTHER_OPERATION in outcomes["another_operation_message"]
        assert set(outcomes["fixes_passed"]) == FIXES
        assert all(outcomes["fixes_passed"].values()), outcomes["fixes_passed"]
        medians = outcomes["median_ms"]
        # Their order is the benchmark's business (`labsupport bench isolation`), never a timed test's.
        assert set(medians) == FIXES and all(isinstance(m, float) for m in medians.values()), medians
        learner_view(outcomes)
        compared = outcomes.seen("h.compare(")
        assert compared.count("\n") >= 3 and all(w in compared for w in ("(a)", "(b)", "(c)")), compared
        assert "load average" in outcomes.seen("h.measure(")
        demo = outcomes.seen("h.show_kernel_demo(")
        assert demo.startswith("exit code 1: the test failed, as expected:") and "attached to a different" in demo, demo

        assert outcomes["prediction_passed"] is False
        assert verdicts(outcomes.seen(PREDICT_CHECK)) == ["Not yet: write your prediction first."]
        assert outcomes["exercise_passed"] is False
        first = outcomes.seen(CHECK)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: the trap: an async fixture"), first
        assert "\nHint: " in first and "NullPool" in first, first

        again = await nb.run(CHECK)  # after the clean-up cell dropped the template
        assert verdicts(again) == verdicts(first), again
        with pytest.raises(CellExecutionError) as gone:  # the kernel's database went with the clean-up
            await nb.run("h.show_kernel_demo(")
        said = str(gone.value).split("------------------")[-1]  # nbclient's message: the cell, then its error
        assert "is gone" in said and "run this section from its first cell again" in said, said
        assert "Traceback" not in said and said.strip().count("\n") < 3, said

        await nb.set_parameters(solution=True)  # the reference answers
        (verdict,) = verdicts(await nb.run(CHECK))
        assert verdict.startswith("Passed: 11 tests passed, each in a loop of its own"), verdict
        (verdict,) = verdicts(await nb.run(PREDICT_CHECK))
        assert verdict.startswith("Passed: all three right"), verdict
        executed = nb.executed()
        assert executed["exercise_passed"] is True and executed["prediction_passed"] is True
        await nb.run("print(await lesson.clean_up())")
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []


def _support():
    import sys

    sys.path.insert(0, str(lesson.SCENARIOS))
    from lesson03 import support as h

    return h


def _own_lab(lab_server):
    from labsupport.teaching.lesson import Lab

    # a prefix of its own: each xdist worker numbers its tmp_path folders from 0, so a name taken from
    # tmp_path repeats across workers, and two cases would drop each other's database mid-run
    return Lab(info=lab_server, prefix=f"t03c_{secrets.token_hex(3)}")


@pytest.mark.parametrize("prediction, verdict", [
    (None, "Not yet: write your prediction first"),
    ({"plain_engine": [2], "session_loop_engine": [1, 2], "engine_per_test": []}, "Passed: all three right"),
    ({"plain_engine": [1, 2], "session_loop_engine": [1, 2], "engine_per_test": []},
     "plain_engine: making an engine opens no connection"),
    ({"plain_engine": [2], "session_loop_engine": [2], "engine_per_test": []},
     "session_loop_engine: the fixture connected once in the session's loop"),
    ({"plain_engine": [], "session_loop_engine": [1, 2], "engine_per_test": [2]},
     "plain_engine: the pool keeps the connection test 1 opened"),
])
def test_03_prediction_check_compares_with_the_real_trace(lab_server, prediction, verdict,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Exercise 1: the predict suite runs for real, traced; a right prediction passes, each wrong one
    is told what it missed, engine by engine, and no prediction runs nothing."""
    h, lab = _support(), _own_lab(lab_server)
    try:
        passed = asyncio.run(h.check_prediction(lab, prediction))
    finally:
        run_sync(lab.cleanup())
    out = capsys.readouterr().out
    assert passed is verdict.startswith("Passed"), out
    assert verdict in " ".join(out.split()), out
    assert ("Markdown" in out) is (prediction is not None)  # the trace table; none before a prediction


_LOOP_SCOPE = ('scope="session")', 'scope="session", loop_scope="session")')


@pytest.mark.parametrize("change, verdict", [
    ({}, "Not yet: the trap: an async fixture with scope=\"session\""),
    ({"conftest.py": _LOOP_SCOPE}, "Not yet: tests get a pooled connection that another loop opened"),
    ({"conftest.py": _LOOP_SCOPE, "pytest.ini": "session"}, "Not yet: tests now share one event loop"),
    ({"conftest.py": "reference"}, "Passed: 11 tests passed, each in a loop of its own"),
])
def test_03_check_names_the_cause_of_a_learners_attempt(lab_server, tmp_path: Path, change, verdict,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Exercise 2 as a learner writes it: the stub (the trap), the loop scope on the fixture only,
    the lab's recommended session loop (which this suite's constraint rules out), the reference:
    each verdict, for real, on the lab's server."""
    import shutil

    from labsupport.teaching import exercises

    h = _support()
    suite = tmp_path / "exercise"
    shutil.copytree(h.EXERCISE, suite)
    if change.get("conftest.py") == "reference":
        shutil.copyfile(exercises.folder("lesson03") / "design" / "conftest.py", suite / "conftest.py")
    elif change.get("conftest.py"):
        conftest = (suite / "conftest.py").read_text()
        assert change["conftest.py"][0] in conftest
        (suite / "conftest.py").write_text(conftest.replace(*change["conftest.py"]))
    if change.get("pytest.ini"):
        shutil.copyfile(h.FIXES["session_loop"] / "pytest.ini", suite / "pytest.ini")
    lab = _own_lab(lab_server)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(h, "EXERCISE", suite)
    try:
        asyncio.run(h.check_exercise(lab, solution=False))
    finally:
        monkey.undo()
        run_sync(lab.cleanup())
    assert verdicts(capsys.readouterr().out)[0].startswith(verdict)


def test_03_reference_answers_live_outside_the_notebooks_folder() -> None:
    """Neither the file browser (notebooks/) nor show_file puts an answer or a hidden test beside a stub."""
    from labsupport.teaching import exercises

    answers = exercises.folder("lesson03")
    assert (answers / "prediction.py").is_file() and (answers / "design" / "test_zz_hidden.py").is_file()
    notebooks = lesson.SCENARIOS.parent
    assert not answers.resolve().is_relative_to(notebooks.resolve())
    lesson03 = lesson.SCENARIOS / "lesson03"
    assert not [p for p in lesson03.rglob("*") if "__pycache__" not in p.parts and ("solution" in p.name or "hidden" in p.name)]


def test_03_compare_draws_a_conclusion_only_outside_the_noise() -> None:
    h = _support()
    m = h.Measurement(tests=100)
    m.overhead_ms = {"engine_per_test": [9.0, 10.0, 11.0], "nullpool": [5.0, 8.0, 9.5], "session_loop": [1.0, 1.2, 1.1]}
    said = " ".join(h.compare(m).split())
    assert "(c) session loop cost less per test than (a) engine per test in every round." in said
    assert "(c) session loop cost less per test than (b) NullPool in every round." in said
    assert "(b) NullPool against (a) engine per test: within the noise here" in said
    m.overhead_ms["session_loop"] = [12.0, 13.0, 14.0]
    said = " ".join(h.compare(m).split())
    assert "(c) session loop cost more per test than (a) engine per test in every round." in said


def test_03_chart_is_linear_with_the_case_files_figure_as_a_note() -> None:
    import matplotlib

    matplotlib.use("Agg")
    h = _support()
    m = h.Measurement(tests=100, baseline_ms=[1.0, 1.0, 1.0])
    m.overhead_ms = {"engine_per_test": [9.0, 10.0, 11.0], "nullpool": [5.0, 8.0, 9.5], "session_loop": [1.0, 1.2, 1.1]}
    fig = h.plot(m)
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear" and ax.get_ylim()[1] < 100
    assert len(ax.patches) == 3  # one bar per fix, none for the 2 s guess
    assert any("2000 ms" in t.get_text() for t in ax.texts)


def test_loop_bound_engine_refuses_another_loop_in_one_line(lab_server) -> None:
    born = asyncio.new_event_loop()

    async def make_and_use() -> AsyncEngine:
        engine = engines.loop_bound_engine(lab_server.url, owner="test_engine", loop_scope="session")
        async with engine.connect() as conn:  # leaves a pooled connection of loop `born`
            assert await conn.scalar(text("SELECT 1")) == 1
        return engine

    async def use(engine) -> int:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT 1")))

    try:
        engine = born.run_until_complete(make_and_use())
        with pytest.raises(engines.LoopMismatchError) as caught:
            asyncio.run(use(engine))
        message = str(caught.value)
        assert "\n" not in message
        assert message.startswith("test_engine was born in the session-scoped event loop, but it is used "
                                  "from a different event loop")
        assert "asyncio_default_test_loop_scope = session" in message and "lab_nullpool_engine" in message
        assert born.run_until_complete(use(engine)) == 1  # the refusal left the pool as it was
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool) and pool.checkedout() == 0
        born.run_until_complete(engine.dispose())
    finally:
        born.close()


def test_loop_bound_engine_needs_a_running_loop(lab_server) -> None:
    with pytest.raises(lesson.LabError, match="needs a running event loop"):
        engines.loop_bound_engine(lab_server.url)


def test_plugin_engines_in_a_real_suite_name_the_loop_scopes(lab_server, tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(textwrap.dedent("""
        [pytest]
        addopts = -p no:cacheprovider -p no:randomly
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        asyncio_default_test_loop_scope = function
    """))
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        import os
        import pytest

        @pytest.fixture(scope="session")
        def lab_database_url():
            return os.environ["LESSON03_TEST_URL"]
    """))
    (tmp_path / "test_engines.py").write_text(textwrap.dedent("""
        import pytest
        from sqlalchemy import text

        async def one(engine):
            async with engine.connect() as conn:
                return await conn.scalar(text("SELECT 1"))

        async def test_pooled_from_a_function_loop(lab_pooled_engine):
            assert await one(lab_pooled_engine) == 1

        @pytest.mark.asyncio(loop_scope="session")
        async def test_pooled_from_the_session_loop(lab_pooled_engine):
            assert await one(lab_pooled_engine) == 1

        async def test_nullpool_first_loop(lab_nullpool_engine):
            assert await one(lab_nullpool_engine) == 1

        async def test_nullpool_second_loop(lab_nullpool_engine):
            assert await one(lab_nullpool_engine) == 1
    """))
    result = lesson.run_suite(tmp_path, env={"LESSON03_TEST_URL": lab_server.url})
    outcomes = {t.name: t for t in result.tests}
    assert outcomes["test_pooled_from_a_function_loop"].outcome == "failed"
    assert outcomes["test_pooled_from_a_function_loop"].message.startswith(
        "labsupport.pytest_plugin.engines.LoopMismatchError: lab_pooled_engine was born in the session-scoped event loop, "
        "but test_engines.py::test_pooled_from_a_function_loop runs in its function-scoped loop")
    assert "attached to a different loop" not in result.output.replace("'attached to a different loop'", "")
    for name in ("test_pooled_from_the_session_loop", "test_nullpool_first_loop", "test_nullpool_second_loop"):
        assert outcomes[name].outcome == "passed", (name, outcomes[name].message)
