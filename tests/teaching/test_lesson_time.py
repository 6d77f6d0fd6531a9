"""The time model of the lessons (labsupport.teaching.lesson_time), and every lesson's stated time
checked against it from a real execution's recorded cell times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labsupport.errors import LabError
from labsupport.teaching import lesson_time as lt
from labsupport.teaching.notebooks import discover

CORE_LIMIT_MINUTES = 20
TOLERANCE = 0.20  # stated vs model; never tighter than the rounding to whole minutes


def _md(text: str, **meta: Any) -> dict[str, Any]:
    return {"cell_type": "markdown", "id": f"m{abs(hash(text)) % 10**8}", "metadata": meta,
            "source": text.splitlines(keepends=True)}


def _code(text: str, outputs: list[dict[str, Any]] | None = None, seconds: float | None = None,
          cell_id: str = "") -> dict[str, Any]:
    meta: dict[str, Any] = {"papermill": {"duration": seconds}} if seconds is not None else {}
    return {"cell_type": "code", "id": cell_id or f"c{abs(hash(text)) % 10**8}", "metadata": meta,
            "source": text.splitlines(keepends=True), "outputs": outputs or [], "execution_count": None}


def _write(path: Path, cells: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n")
    return path


def test_the_model_adds_words_code_lines_run_time_and_exercise_budgets(tmp_path: Path) -> None:
    words = " ".join(["word"] * 360)  # two minutes of prose
    cells = [_md(f"# Title\n\nTime: core about 1 min, whole about 1 min\n\n{words}"),
             _code("\n".join(f"x{i} = {i}" for i in range(60)), cell_id="a"),  # one minute of code
             _md("## Exercise: predict, then run (5 min)\n\n```python\nshown = 1\nshown += 1\n```"),
             _md("## Going further\n\n" + words),
             _code("y = 1", cell_id="b")]
    source = _write(tmp_path / "nb.ipynb", cells)
    shown_file = {"output_type": "display_data", "data": {"text/markdown": "`f.py`\n```python\n" + "a\n" * 30 + "```",
                                                          "text/plain": "<Markdown>"}}
    ran = [dict(c) for c in cells]
    ran[1] = _code("".join(cells[1]["source"]), [shown_file], seconds=90.0, cell_id="a")
    executed = _write(tmp_path / "ran.ipynb", [_code("database_url = 'x'", cell_id="p") | {
        "metadata": {"tags": ["injected-parameters"]}}, *ran])

    alone = lt.lesson_time(source)
    assert alone.core.words == 1 + 9 + 360 + 6 and alone.core.code_lines == 60 + 2 and alone.core.exercise_minutes == 5
    timed = lt.lesson_time(source, executed)  # + the shown file: its name (a word) and 30 lines
    assert timed.core.words == 376 + 1 and timed.core.run_seconds == 90.0 and timed.core.code_lines == 62 + 30
    assert timed.core.minutes == pytest.approx((376 + 1) / 180 + 92 / 60 + 1.5 + 5)
    assert timed.whole.words == timed.core.words + 2 + 360 and timed.whole.code_lines == timed.core.code_lines + 1
    assert lt.statement(timed) == f"Time: core about {round(timed.core.minutes)} min, whole about 12 min"


def test_stamp_writes_the_models_figures_and_stated_reads_them_back(tmp_path: Path) -> None:
    path = _write(tmp_path / "nb.ipynb", [_md("# T\n\n*Time: core about 99 min, whole about 99 min.*"),
                                          _md("## Do it (10 min)")])
    assert lt.stated(path) == (99, 99)
    assert lt.stamp(path) == "Time: core about 10 min, whole about 10 min"
    assert lt.stated(path) == (10, 10)
    assert "*Time: core about 10 min, whole about 10 min.*" in "".join(json.loads(path.read_text())["cells"][0]["source"])


def test_stamp_refuses_a_notebook_without_a_statement(tmp_path: Path) -> None:
    path = _write(tmp_path / "nb.ipynb", [_md("# T\n\nAbout 10 minutes.")])
    assert lt.stated(path) is None
    with pytest.raises(LabError, match="add one"):
        lt.stamp(path)


def test_an_executed_copy_of_another_notebook_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.ipynb", [_md("# A"), _code("x = 1", cell_id="x")])
    other = _write(tmp_path / "b.ipynb", [_code("y = 1", cell_id="y")])
    with pytest.raises(LabError, match="execute the notebook again"):
        lt.lesson_time(source, other)


def test_nbclient_timestamps_count_when_papermill_recorded_none(tmp_path: Path) -> None:
    cell = _code("x = 1", cell_id="x")
    cell["metadata"]["execution"] = {"iopub.execute_input": "2026-01-01T10:00:00.000Z",
                                     "shell.execute_reply": "2026-01-01T10:00:30.000Z"}
    source = _write(tmp_path / "a.ipynb", [_code("x = 1", cell_id="x")])
    executed = _write(tmp_path / "b.ipynb", [cell])
    assert lt.lesson_time(source, executed).whole.run_seconds == 30.0


def _close(stated: int, model: float) -> bool:
    return abs(stated - model) <= max(TOLERANCE * model, 0.5)


@pytest.mark.notebook
@pytest.mark.slow  # every lesson executed once more: make test-slow (CI runs it)
@pytest.mark.parametrize("notebook", [p.stem for p in discover()])
def test_each_lesson_states_its_time_by_the_model_and_its_core_fits_20_minutes(notebook: str, run_notebook) -> None:
    (path,) = discover([notebook])
    executed = run_notebook(notebook)
    time = lt.lesson_time(path, executed.path)
    figures = f"model: core {time.core.describe()}; whole {time.whole.describe()}"
    assert time.core.minutes <= CORE_LIMIT_MINUTES, f"{notebook}: the core is longer than 20 minutes ({figures})"
    said = lt.stated(path)
    assert said is not None, f"{notebook}: its first markdown cell must say '{lt.statement(time)}' ({figures})"
    assert _close(said[0], time.core.minutes) and _close(said[1], time.whole.minutes), (
        f"{notebook} states core {said[0]} and whole {said[1]} min; the model says '{lt.statement(time)}' "
        f"({figures}); update it with labsupport.teaching.lesson_time.stamp")


def test_the_index_reads_every_lessons_statement_and_adds_them_up(tmp_path: Path) -> None:
    _write(tmp_path / "00_start.ipynb", [_md("# Start here\n\n*Time: core about 4 min, whole about 4 min.*")])
    _write(tmp_path / "01_first.ipynb", [_md("# 01 First\n\nTime: core about 18 min, whole about 25 min")])
    _write(tmp_path / "02_second.ipynb", [_md("# 02 Second\n\nAbout 30 minutes.")])
    assert lt.stated_times(tmp_path) == [
        ("[Start here](00_start.ipynb)", "4 min", "4 min"),
        ("[01 First](01_first.ipynb)", "18 min", "25 min"),
        ("[02 Second](02_second.ipynb)", "not stated", "not stated"),
        ("**the whole lab**", "**at least 22 min**", "**at least 29 min**"),
    ]
