"""The kernel's NameError guard (labsupport.teaching.kernel_guard): which cell defines a missing name,
read from the notebook; in a real kernel, the one line a learner sees instead of the NameError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsupport.teaching import jupyter_lab, kernel_guard


def _notebook(tmp_path: Path) -> Path:
    ids = iter(range(100))

    def cell(kind: str, text: str, **meta: object) -> dict[str, object]:
        extra: dict[str, object] = {"outputs": [], "execution_count": None} if kind == "code" else {}
        return {"cell_type": kind, "id": f"c{next(ids)}", "metadata": meta, "source": text, **extra}

    path = tmp_path / "99_demo.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        cell("code", "database_url = None", tags=["parameters"]),
        cell("markdown", "## 1. Set-up"),
        cell("code", "%load_ext autoreload\nfrom pathlib import Path\nimport os.path as osp\nrunner = await make()"),
        cell("markdown", "## 2. A long section title that goes on"),
        cell("code", "def helper():\n    inner = 1\n[x for x in range(3)]\nfor row in []: pass"),
        cell("code", "total = helper() + 1"),
    ]}))
    return path


def test_the_cell_that_defines_a_name_is_named_by_its_section_and_first_line(tmp_path: Path) -> None:
    nb = _notebook(tmp_path)
    assert kernel_guard.defining_cell(nb, "runner") == 'the cell under "1. Set-up" that starts `%load_ext autoreload`'
    assert kernel_guard.defining_cell(nb, "osp") == kernel_guard.defining_cell(nb, "Path")
    assert kernel_guard.defining_cell(nb, "helper") == kernel_guard.defining_cell(nb, "row")
    assert kernel_guard.defining_cell(nb, "database_url") == "the parameters cell at the top"
    assert kernel_guard.defining_cell(nb, "inner") is None and kernel_guard.defining_cell(nb, "x") is None
    said = kernel_guard.message("total", nb)
    assert said is not None and said.startswith('`total` is not defined yet: run the cell under "2. A long')
    assert kernel_guard.message("typo", nb) is None  # Python's own NameError for a name no cell defines
    assert "run the cell that defines it first" in str(kernel_guard.message("x", None))


@pytest.mark.notebook
async def test_in_a_kernel_the_learner_reads_one_line_naming_the_cell(tmp_path: Path) -> None:
    """A kernel started as `labsupport lab` starts it (PYTHONSTARTUP, JPY_SESSION_NAME): guarded from its first cell."""
    import nbformat
    from nbclient import NotebookClient

    path = _notebook(tmp_path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, startup_timeout=300, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    env = jupyter_lab.environment() | {"JPY_SESSION_NAME": path.name}
    async with client.async_setup_kernel(env=env):
        await client.async_execute_cell(nb.cells[5], 5)  # `total = helper() + 1`, alone
        (error,) = nb.cells[5].outputs
        assert error["ename"] == "MissingStep" and len(error["traceback"]) == 1, error
        assert error["evalue"].startswith('`helper` is not defined yet: run the cell under "2. A long'), error
        nb.cells[5].source = "undefined_anywhere + 1"
        await client.async_execute_cell(nb.cells[5], 5)
        (error,) = nb.cells[5].outputs
        assert error["ename"] == "NameError", error  # a typo keeps Python's message
        nb.cells[5].source = "import json\njson.loads('{')"
        await client.async_execute_cell(nb.cells[5], 5)
        assert nb.cells[5].outputs[0]["ename"] == "JSONDecodeError"
