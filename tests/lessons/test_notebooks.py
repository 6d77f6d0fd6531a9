"""Each notebook run headless by papermill; the assertions are on what it recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsupport.server import binaries
from labsupport.teaching.notebooks import discover

pytestmark = pytest.mark.notebook


def test_every_notebook_is_committed_without_outputs() -> None:
    notebooks = discover()
    assert notebooks, "no lesson notebooks found"
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert any("parameters" in t for t in tags), f"{path.name} has no cell tagged 'parameters'"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), path.name


def test_00_start_here(run_notebook, lab_server) -> None:
    outcomes = run_notebook("00_start_here")
    if lab_server.managed:
        assert outcomes["server.source"] == binaries.find().source
        assert outcomes["server.version"] == binaries.find().version
    else:
        assert outcomes["server.source"].startswith("LAB_DATABASE_URL")
        assert str(outcomes["server.version"])[:2].isdigit()


def test_the_index_links_every_notebook_that_exists() -> None:
    index = (Path(__file__).resolve().parents[2] / "notebooks" / "00_start_here.ipynb").read_text()
    for path in discover()[1:]:
        assert path.name in index, f"00_start_here does not link {path.name}"


# Every show_file(..., lines=[a, b]) in a lesson, with a marker the shown lines must contain:
# when a scenario file changes, the lesson would otherwise show the wrong lines without failing.
SHOWN_LINES = {
    ("01", "scenarios/lesson01/buggy/tests/conftest.py", 15, 21): "await drop_db()  # a clean slate",
    ("01", "scenarios/lesson01/fixed/tests/conftest.py", 10, 31): "def pytest_sessionstart(session):",
    ("02", "scenarios/lesson02/symptom_a/conftest.py", 14, 20): "create_async_engine(TEST_DATABASE_URL)",
    ("02", "scenarios/lesson02/fixed/conftest.py", 14, 21): "def lab_session_dependency():",
    ("02", "scenarios/lesson02/naive_commit/conftest.py", 26, 31): "await db_session.commit()  # the cure",
    ("02", "scenarios/lesson02/fixed/test_with_lifespan.py", 9, 21): "def lab_run_lifespan():",
    ("02", "scenarios/lesson02/limits/conftest.py", 40, 52): "async def cloned_database_url():",
    ("03", "scenarios/lesson03/buggy/conftest.py", 22, 32): "if not _db_initialized:",
    ("03", "scenarios/lesson03/predict/conftest.py", 13, 34): "async def engine_per_test():",
    ("04", "scenarios/lesson04/fixed/pytest.ini", 8, 9): "lab_metadata = flashcards.models:Base.metadata",
    ("04", "scenarios/lesson04/buggy/conftest.py", 22, 28): "await lineup.drop_schema(engine, worker_id",
    ("04", "scenarios/lesson04/grouped/conftest.py", 11, 29): "def pytest_collection_modifyitems(",
    ("04", "scenarios/lesson04/fixed/test_workers.py", 11, 16): "async def test_each_worker_has_its_own_database(",
    ("04", "scenarios/lesson04/support.py", 75, 76): "FROM pg_stat_activity",
    ("04", "scenarios/lesson04/fixed/test_workers.py", 24, 33): "async def test_no_parallel_runs_alone(",
}
_ALIASES = {"L02 / ": "scenarios/lesson02/", "L04 / ": "scenarios/lesson04/", "h.BUGGY / ": "scenarios/lesson03/buggy/",
            "h.PREDICT / ": "scenarios/lesson03/predict/"}


def _shown_ranges() -> list[tuple[str, str, int, int]]:
    import re

    found = []
    for path in discover():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            for call in re.findall(r"show_file\((.*?)\)\s*$", "".join(cell["source"]), flags=re.M):
                if "lines=" not in call:
                    continue
                target, lines = call.split(", lines=")
                for alias, folder in _ALIASES.items():
                    target = target.replace(alias, folder)
                target = target.replace('" / "', "/").replace('"', "")
                first, last = map(int, re.findall(r"\d+", lines))
                found.append((path.name[:2], target, first, last))
    return found


def test_every_shown_range_still_shows_its_code() -> None:
    shown = _shown_ranges()
    assert shown, "no show_file(..., lines=...) found: has the notebooks' call changed?"
    unknown = [s for s in shown if s not in SHOWN_LINES]
    assert not unknown, f"add these ranges and a marker to SHOWN_LINES: {unknown}"
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    for (lesson_no, target, first, last) in shown:
        lines = (notebooks / target).read_text(encoding="utf-8").splitlines()[first - 1:last]
        marker = SHOWN_LINES[(lesson_no, target, first, last)]
        assert any(marker in line for line in lines), f"{target} lines {first}-{last} no longer show {marker!r}"


def test_every_lesson_states_its_time_and_what_to_do_after_a_restart() -> None:
    """In the form the time model's test checks (tests/teaching/test_lesson_time.py); the index shows every lesson's."""
    from labsupport.teaching import lesson_time

    for path in discover():
        top = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
        assert lesson_time.STATED.search(top), f"{path.name} does not state its time at the top ('{lesson_time.STATED.pattern}')"
        assert "After a kernel restart, run the notebook from the top" in top, path.name


def test_the_doctor_accepts_a_learners_saved_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs JupyterLab saved while a learner works are not a failure (the maintainers' check is above)."""
    from types import SimpleNamespace

    from labsupport.teaching.doctor import lab as doctor

    nb = {"cells": [{"cell_type": "code", "source": "1", "outputs": [{"output_type": "stream", "text": "1"}],
                     "execution_count": 1, "metadata": {}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "04_parallel_workers.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(doctor, "settings", lambda: SimpleNamespace(notebooks=tmp_path))
    check = doctor._notebooks()
    assert check.ok, check.line()
    assert "04 with your outputs saved" in check.detail
