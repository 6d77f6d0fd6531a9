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


def test_00_start_here(run_notebook, lab_server) -> None:  # type: ignore[no-untyped-def]
    outcomes = run_notebook("00_start_here")
    if lab_server.managed:
        assert outcomes["server.source"] == binaries.find().source
        assert outcomes["server.version"] == binaries.find().version
    else:
        assert outcomes["server.source"].startswith("LAB_DATABASE_URL")
        assert str(outcomes["server.version"])[:2].isdigit()


def test_the_index_links_every_notebook_that_exists() -> None:
    index = (Path(__file__).resolve().parent.parent / "notebooks" / "00_start_here.ipynb").read_text()
    for path in discover()[1:]:
        assert path.name in index, f"00_start_here does not link {path.name}"
