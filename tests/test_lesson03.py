"""Lesson 03 run headless (its outcomes), and labsupport.pytest_plugin.engines' one-line misuse message."""

from __future__ import annotations

import asyncio
import re
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from labsupport.pytest_plugin import engines
from labsupport.teaching import lesson

NOTEBOOK = "03_different_loop_future"
DIFFERENT_LOOP = r"RuntimeError: Task <Task pending .*> got Future <Future pending .*> attached to a different loop"
ANOTHER_OPERATION = "cannot perform operation: another operation is in progress"
FIXES = {"engine_per_test", "nullpool", "session_loop"}


@pytest.mark.notebook
@pytest.mark.usefixtures("timing_alone")  # never measured beside another timing notebook
def test_03_reproduces_fixes_and_measures(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook(NOTEBOOK, solution=True, repeats=5, tests=100)
    assert re.search(DIFFERENT_LOOP, outcomes["different_loop_message"]), outcomes["different_loop_message"]
    assert ANOTHER_OPERATION in outcomes["another_operation_message"]
    assert set(outcomes["fixes_passed"]) == FIXES
    assert all(outcomes["fixes_passed"].values()), outcomes["fixes_passed"]
    medians = {f: outcomes[f"median_ms_{f}"] for f in FIXES}
    assert medians["session_loop"] < medians["nullpool"] < medians["engine_per_test"], medians
    assert outcomes["exercise_passed"] is True


@pytest.mark.notebook
def test_03_learner_version_fails_its_check_without_breaking_the_run(run_notebook) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook(NOTEBOOK, solution=False, repeats=1, tests=100)
    assert outcomes["exercise_passed"] is False
    assert re.search(DIFFERENT_LOOP, outcomes["different_loop_message"])
    assert all(outcomes["fixes_passed"].values()), outcomes["fixes_passed"]


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
