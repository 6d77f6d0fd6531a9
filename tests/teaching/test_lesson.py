"""The lesson helpers: outcomes, expected failures, and nested pytest runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labsupport.teaching import lesson
from labsupport.teaching.notebooks import NotebookResult, write_index


def test_expect_failure_catches_and_checks_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    with lesson.expect_failure(RuntimeError, match="different loop") as caught:
        raise RuntimeError("got Future attached to a different loop")
    assert caught.kind == "RuntimeError"
    assert "different loop" in capsys.readouterr().out


def test_expect_failure_fails_when_nothing_fails() -> None:
    with pytest.raises(AssertionError, match="did not reproduce"):
        with lesson.expect_failure(RuntimeError):
            pass


def test_expect_failure_fails_on_the_wrong_message() -> None:
    with pytest.raises(AssertionError, match="matching"):
        with lesson.expect_failure(RuntimeError, match="different loop"):
            raise RuntimeError("something else")


def test_expect_failure_lets_other_errors_through() -> None:
    with pytest.raises(KeyError):
        with lesson.expect_failure(RuntimeError):
            raise KeyError("x")


def _suite(tmp_path: Path) -> Path:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_demo.py").write_text(textwrap.dedent("""
        import os
        def test_passes():
            assert True
        def test_fails():
            raise RuntimeError("boom: expected")
        def test_env_is_clean():
            assert "FORCE_COLOR" not in os.environ
            assert not any(k.startswith("PYTEST_ADDOPTS") for k in os.environ)
    """))
    return tmp_path


def test_run_suite_reports_each_test_and_strips_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")  # would stop the nested run at its first failure
    result = lesson.run_suite(_suite(tmp_path))
    outcomes = {t.name: t.outcome for t in result.tests}
    assert outcomes == {"test_passes": "passed", "test_fails": "failed", "test_env_is_clean": "passed"}
    assert result.returncode == 1 and not result.ok
    assert result.messages == ["RuntimeError: boom: expected"]


def test_read_outcomes_reads_recorded_values(tmp_path: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "outputs": [
        {"output_type": "display_data", "data": {lesson.OUTCOME_MIME: {"key": "a", "value": 1}}},
        {"output_type": "display_data", "data": {lesson.OUTCOME_MIME: {"key": "a", "value": 2}}},
        {"output_type": "stream", "text": "noise"},
    ]}]}
    path = tmp_path / "nb.ipynb"
    import json

    path.write_text(json.dumps(nb))
    assert lesson.read_outcomes(path) == {"a": 2}


def test_record_refuses_values_it_could_not_read_back() -> None:
    with pytest.raises(lesson.LabError, match="JSON"):
        lesson.record("x", object())


def test_index_lists_results(tmp_path: Path) -> None:
    ok = NotebookResult("00_start_here", True, 1.5, tmp_path / "a.ipynb", outcomes={"server.version": "18.6"})
    bad = NotebookResult("01_x", False, 2.0, tmp_path / "b.ipynb", error="cell 3 raised ValueError: no")
    page = write_index([ok, bad], tmp_path / "index.html").read_text()
    assert "00_start_here" in page and "passed" in page and "18.6" in page
    assert "failed" in page and "cell 3 raised ValueError" in page


def test_record_returns_its_value_and_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert lesson.record("exercise_passed", True) is True
    assert lesson.record("n", 3) == 3
    assert capsys.readouterr().out == ""


def test_wrap_never_cuts_a_word() -> None:
    message = "RuntimeError: Task <Task pending name='Task-14' coro=<setup() running at plugin.py:410> " * 4
    wrapped = lesson.wrap(message, width=60)
    assert wrapped.split() == message.split()
    assert all(len(line) <= 60 or " " not in line.strip() for line in wrapped.splitlines())
    short = lesson.shorten(message, 50)
    assert short.endswith(" [...]") and message.startswith(short.removesuffix(" [...]"))


def test_verdict_says_what_why_and_where_and_more_on_later_tries(capsys: pytest.CaptureFixture[str]) -> None:
    failing = lesson.Verdict(False, "the route did not see the row.", "section 3 shows it.", "read db.py.")
    assert lesson.verdict("demo", failing) is False
    first = capsys.readouterr().out
    assert first.startswith("Not yet: the route did not see the row.\nHint: section 3 shows it.") and "Still" not in first
    lesson.verdict("demo", failing)
    assert "Still stuck? read db.py." in capsys.readouterr().out
    assert lesson.verdict("demo", lesson.Verdict(True, "all checks pass.")) is True
    assert capsys.readouterr().out == "Passed: all checks pass.\n"


def test_needs_names_the_section_to_run_first() -> None:
    defined_here = 1  # noqa: F841 - looked up by needs()
    with pytest.raises(lesson.MissingStep, match=r"Run section 2 first: it defines `runner`"):
        lesson.needs("runner", where="section 2")
    assert lesson.MissingStep("x")._render_traceback_() == ["\x1b[1;31mx\x1b[0m"]


def test_scenario_suites_load_only_the_plugins_they_use(tmp_path: Path) -> None:
    """A lab suite starts without every installed plugin; a suite of your own keeps them all."""
    cmd = lesson.pytest_command(lesson.SCENARIOS / "lesson04" / "fixed", "-n", "2")
    assert "--disable-plugin-autoload" in cmd
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-p"] == [  # asyncio by its module: see plugin_args
        "no:cacheprovider", "pytest_asyncio.plugin", *lesson.SCENARIO_PLUGINS[1:]]
    assert "--disable-plugin-autoload" not in lesson.pytest_command(tmp_path)
    assert lesson.plugin_args(tmp_path, ["xdist", "not-installed"]) == ["--disable-plugin-autoload", "-p", "xdist"]


def test_nested_suites_may_write_bytecode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every nested process would otherwise compile the lab's modules and rewrite asserts again."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert "PYTHONDONTWRITEBYTECODE" not in lesson.clean_env()


# ---------------------------------------------------------------- cells that survive a real kernel


def _lab_for(lab_server, notebook: str):
    import secrets

    return lesson.open_lab(lab_server.url, f"tls_{secrets.token_hex(3)}", notebook=notebook)


def test_a_set_up_cell_run_again_gets_the_same_lab_back(lab_server, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab_for(lab_server, "00")
    assert lesson.open_lab(lab_server.url, lab.prefix, notebook="00") is lab
    monkeypatch.setitem(globals(), "database_url", lab_server.url)  # what the parameters cell defines
    monkeypatch.setitem(globals(), "db_prefix", lab.prefix)
    assert lesson.current_lab("00") is lab
    assert lesson.open_lab(lab_server.url, lab.prefix) is not lab  # no notebook: a lab of its own


async def test_a_database_the_clean_up_dropped_says_which_cell_makes_it(lab_server) -> None:
    lab = _lab_for(lab_server, "t1")
    name = await lab.create_database("scratch")
    assert f"/{name}?" in lab.url(name)
    await lab.needs_database(lab.url(name), where="the cell above")
    assert "Dropped 1 databases" in await lab.clean_up()
    with pytest.raises(lesson.MissingStep, match=r"run the cell that makes it \(lab.create_database\('scratch'\)\) again"):
        lab.url(name)
    with pytest.raises(lesson.MissingStep, match=r"is gone .*: run section 6's set-up again first"):
        await lab.needs_database(name, where="section 6's set-up")
    assert "none were left" in await lab.clean_up()  # a second run is fine
    await lab.create_database("scratch")
    assert f"/{name}?" in lab.url(name)
    await lab.clean_up()


async def test_clean_up_runs_every_step_and_always_drops_the_databases(lab_server, tmp_path: Path) -> None:
    from labsupport.connection import run_sync  # noqa: F401 - the server answers below
    from labsupport.databases import names_under

    lab = _lab_for(lab_server, "t2")
    await lab.create_database("a")
    ran: list[str] = []

    async def dispose() -> None:
        ran.append("dispose")

    def broken() -> None:
        raise RuntimeError("the folder is busy")

    lesson.on_clean_up(dispose)
    folder = tmp_path / "evidence"
    folder.mkdir()
    import shutil

    said = await lesson.clean_up(lambda: shutil.rmtree(folder), lambda: never_made.dispose(), broken)  # type: ignore[name-defined]  # noqa: F821 - the name is never bound on purpose: the clean-up must go on past it
    assert ran == ["dispose"] and not folder.exists()
    assert f"Dropped 1 databases of this notebook ({lab.prefix}_...)" in said
    assert "Clean-up: could not broken: RuntimeError: the folder is busy" in said
    assert await names_under(lab_server.url, lab.prefix) == []
    again = await lesson.clean_up(lambda: shutil.rmtree(folder))  # twice: the folder is gone, nothing fails
    assert "none were left" in again and "Clean-up" not in again and ran == ["dispose"]


def test_parameter_is_the_parameters_cells_value_or_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(globals(), "solution", True)  # what papermill's injected cell defines
    assert lesson.parameter("solution", False) is True
    assert lesson.parameter("not_a_parameter", 3) == 3
