"""make test-latest's comparison, on real executed notebooks: two runs of lesson 00 (``labsupport run --out``,
as make test-latest runs it) record the same outcomes; an outcome edited in one copy, or a cell that raised, is reported and fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labsupport.teaching.lesson import OUTCOME_MIME
from labsupport.teaching.outcome_compare import (
    MEASURED,
    comparable,
    compare_runs,
    main,
    package_changes,
    read_run,
    report,
)


def _two_runs(tmp_path: Path) -> tuple[Path, Path]:
    """Lesson 00 run twice as make test-latest runs it: ``labsupport run --out`` with a relative folder."""
    for side in ("pinned", "latest"):
        done = subprocess.run([sys.executable, "-m", "labsupport", "run", "00", "--out", side], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (tmp_path / side / "index.html").is_file()
    return tmp_path / "pinned", tmp_path / "latest"


def _edit(folder: Path, change) -> None:
    path = folder / "notebooks" / "00_start_here.ipynb"
    nb = json.loads(path.read_text())
    change(nb)
    path.write_text(json.dumps(nb))


def _args(pinned: Path, latest: Path) -> list[str]:
    return [str(pinned), str(latest), "--python", sys.executable,
            "--constraints", str(Path(__file__).resolve().parents[2] / "constraints.txt")]


@pytest.mark.notebook
def test_two_real_runs_agree_and_a_changed_outcome_or_an_error_is_reported(lab_server, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    pinned, latest = _two_runs(tmp_path)
    runs = read_run(pinned)
    assert set(runs) == {"00_start_here"} and runs["00_start_here"].outcomes["server.version"], runs
    assert main(_args(pinned, latest)) == 0
    out = capsys.readouterr().out
    assert "00_start_here: same outcomes" in out and "verdict: every lesson recorded the same outcomes" in out, out

    def new_version(nb: dict) -> None:
        for cell in nb["cells"]:
            for output in cell.get("outputs", []):
                item = output.get("data", {}).get(OUTCOME_MIME)
                if item and item["key"] == "server.version":
                    item["value"] = "19.0"

    _edit(latest, new_version)
    assert main(_args(pinned, latest)) == 1
    out = capsys.readouterr().out
    assert "00_start_here: 1 outcome(s) changed" in out and "server.version: 18" in out and "-> 19.0" in out, out

    def raised(nb: dict) -> None:
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code[-1]["outputs"].append({"output_type": "error", "ename": "ImportError", "evalue": "no module x",
                                    "traceback": []})

    _edit(latest, raised)
    assert main(_args(pinned, latest)) == 1
    assert "00_start_here: FAILED with the latest releases: cell" in capsys.readouterr().out


def test_what_differs_between_any_two_runs_is_blanked_and_the_story_is_not() -> None:
    # Recorded by lesson 03 and 04 in two runs: task names, paths and database prefixes differ.
    loop = ("RuntimeError: Task <Task pending name='Task-{n}' coro=<setup() running at {site}/pytest_asyncio/plugin.py:{line}> "
            "cb=[_run_until_complete_cb() at /usr/lib/python3.11/asyncio/base_events.py:180]> got Future "
            "<Future pending> attached to a different loop")
    assert comparable(loop.format(n=14, site="/work/a/.venv/lib/python3.11/site-packages", line=410)) == \
        comparable(loop.format(n=97, site="/home/b/build/latest-venv/lib/python3.12/site-packages", line=433))
    assert comparable(["lab04_8940_fx_gw0_test", "lab04_8940_fx_gw1_test"]) == \
        comparable(["lab04_1f2e_fx_gw1_test", "lab04_1f2e_fx_gw0_test"])
    assert comparable({"0 ms/test, -n 2": 0.48, "100 ms/test, -n 2": 0.74}) == \
        {"0 ms/test, -n 2": MEASURED, "100 ms/test, -n 2": MEASURED}
    assert comparable({"gw0": 20}) == comparable({"gw1": 20}) != comparable({"gw0": 12, "gw1": 8})  # seen in 04
    assert comparable("3/3") != comparable("2/3") and comparable("18.6") == "18.6"
    assert comparable(49) != comparable(0) and comparable(True) != comparable(False)
    assert comparable("5 passed in 0.12s") == comparable("5 passed in 3.40s")


def test_the_report_names_package_changes_and_only_outcome_changes_fail() -> None:
    changes = package_changes({"sqlalchemy": "2.1.9", "psycopg": "3.3.9", "pytest": "9.2.0"},
                              {"sqlalchemy": "2.2.0", "pytest": "9.2.0", "newdep": "1.0"})
    assert changes == [("newdep", None, "1.0"), ("psycopg", "3.3.9", None), ("sqlalchemy", "2.1.9", "2.2.0")]
    lines, changed = report(changes, compare_runs({}, {}))
    assert "  sqlalchemy: 2.1.9 -> 2.2.0" in lines and not changed, lines
    assert any("newdep==1.0" in line for line in lines) and any("psycopg" in line for line in lines)
    lines, _ = report([], [])
    assert any(line.startswith("  none: every package") for line in lines), lines
