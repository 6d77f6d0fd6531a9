"""Lesson 03 run headless (its outcomes), and labsupport.pytest_plugin.engines' one-line misuse message."""

from __future__ import annotations

import asyncio
import re
import secrets
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

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


@pytest.mark.notebook
async def test_03_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,  # type: ignore[no-untyped-def]
                                                                   lab_server) -> None:
    """One execution serves the story, the learner's stub and the reference answer: Run All with the
    team's conftest; the check then says why and where, again after the clean-up; then
    ``solution = True`` in the parameters cell and the check passes."""
    async with live_notebook(NOTEBOOK, solution=False, repeats=2, tests=100) as nb:
        await nb.run_all(alone=MEASURING)
        outcomes = nb.executed()
        assert re.search(DIFFERENT_LOOP, outcomes["different_loop_message"]), outcomes["different_loop_message"]
        assert ANOTHER_OPERATION in outcomes["another_operation_message"]
        assert set(outcomes["fixes_passed"]) == FIXES
        assert all(outcomes["fixes_passed"].values()), outcomes["fixes_passed"]
        medians = {f: outcomes[f"median_ms_{f}"] for f in FIXES}
        # Their order is the benchmark's business (`labsupport bench isolation`), never a timed test's: on a
        # loaded 2-core machine (b) and (a), ~20-30 % apart, have been seen to swap.
        assert all(isinstance(m, float) and m > 0 for m in medians.values()), medians
        learner_view(outcomes)
        demo = outcomes.seen("h.show_kernel_demo(")
        assert demo.startswith("exit code 1: the test failed, as expected:") and "attached to a different" in demo, demo

        assert outcomes["exercise_passed"] is False
        first = outcomes.seen(CHECK)
        assert verdicts(first) and verdicts(first)[0].startswith("Not yet: tests after the first still get"), first
        assert "\nHint: " in first and "section 4" in first, first

        again = await nb.run(CHECK)  # after the clean-up cell dropped the template
        assert verdicts(again) == verdicts(first), again
        third = await nb.run(CHECK)
        assert verdicts(third) == verdicts(first), third

        await nb.set_parameters(solution=True)  # the reference answer
        (verdict,) = verdicts(await nb.run(CHECK))
        assert verdict == "Passed: 14 tests passed, the 6 visible ones and 8 hidden ones that run after them.", verdict
        assert nb.executed()["exercise_passed"] is True
        await nb.run("print(await lab.clean_up())")
        assert run_sync(databases.names_under(lab_server.url, nb.prefix)) == []


def verdicts(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(("Passed:", "Not yet:"))]


@pytest.mark.parametrize("files, verdict", [
    ({}, "Not yet: tests after the first still get a pooled connection"),
    ({"pytest.ini": "session"}, "Not yet: a test read an attribute such as user.id after commit()"),
    ({"pytest.ini": "session", "conftest.py": "solution"}, "Passed: 14 tests passed"),
])
def test_03_check_names_the_cause_of_a_learners_attempt(lab_server, tmp_path: Path, files, verdict,  # type: ignore[no-untyped-def]
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The lesson's fix (c) as a learner first writes it (loop scopes, no expire_on_commit=False),
    then as taught: the check's verdicts, for real, on the lab's server."""
    import shutil
    import sys

    from labsupport.teaching.lesson import Lab

    sys.path.insert(0, str(lesson.SCENARIOS))
    from lesson03 import support as h

    suite = tmp_path / "exercise"
    shutil.copytree(h.EXERCISE, suite)
    if files.get("pytest.ini"):
        shutil.copyfile(h.SOLUTION / "pytest.ini", suite / "pytest.ini")
    if files.get("conftest.py"):
        shutil.copyfile(h.SOLUTION / "conftest.py", suite / "conftest.py")
    else:
        (suite / "conftest.py").write_text((h.SOLUTION / "conftest.py").read_text().replace(
            ",\n                                expire_on_commit=False", "") if files else (suite / "conftest.py").read_text())
    # a prefix of its own: each xdist worker numbers its tmp_path folders from 0, so a name taken from
    # tmp_path repeats across workers, and two cases would drop each other's database mid-run
    lab = Lab(info=lab_server, prefix=f"t03c_{secrets.token_hex(3)}")
    monkey = pytest.MonkeyPatch()
    monkey.setattr(h, "EXERCISE", suite)
    try:
        asyncio.run(h.check_exercise(lab, solution=False))
    finally:
        monkey.undo()
        run_sync(lab.cleanup())
    assert verdicts(capsys.readouterr().out)[0].startswith(verdict)


def test_loop_bound_engine_refuses_another_loop_in_one_line(lab_server) -> None:  # type: ignore[no-untyped-def]
    born = asyncio.new_event_loop()

    async def make_and_use() -> object:
        engine = engines.loop_bound_engine(lab_server.url, owner="test_engine", loop_scope="session")
        async with engine.connect() as conn:  # leaves a pooled connection of loop `born`
            assert await conn.scalar(text("SELECT 1")) == 1
        return engine

    async def use(engine) -> int:  # type: ignore[no-untyped-def]
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
        assert engine.sync_engine.pool.checkedout() == 0
        born.run_until_complete(engine.dispose())
    finally:
        born.close()


def test_loop_bound_engine_needs_a_running_loop(lab_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(lesson.LabError, match="needs a running event loop"):
        engines.loop_bound_engine(lab_server.url)


def test_plugin_engines_in_a_real_suite_name_the_loop_scopes(lab_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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
