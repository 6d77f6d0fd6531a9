"""In a lesson's kernel, a ``NameError`` for a name the notebook defines in some cell becomes one line that
names that cell: after a kernel restart, or a skipped cell, the learner reads which cell to run first.

``install()`` registers the handler with IPython; a lesson's set-up cell (``lesson.open_lab``) calls it, and
the kernels JupyterLab starts for the lab call it at start-up (``kernel_startup.py``, their
``PYTHONSTARTUP``: see ``jupyter_lab.environment``), so it holds right after a restart too. The notebook is
the one JupyterLab names in the kernel's ``JPY_SESSION_NAME``; without it the line still says what to run.
A name no cell defines (a typo) keeps Python's own error, and so does a NameError raised inside a library.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["install", "defining_cell", "message"]

_MAGIC = re.compile(r"^\s*[%!]")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def install() -> None:
    """Have the running IPython shell (if any) answer a notebook's NameError with ``message``; idempotent."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "_isolation_lab_guard", False):
        return
    shell.set_custom_exc((NameError,), _handler)
    shell._isolation_lab_guard = True


def _handler(shell: Any, etype: type[BaseException], value: BaseException, tb: TracebackType | None,
             tb_offset: int | None = None) -> None:
    name = getattr(value, "name", None)
    said = message(name, _notebook()) if name and _raised_in_the_notebook(tb, shell.user_ns) else None
    if said is None:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return
    from .cells import MissingStep

    step = MissingStep(said)
    shell.showtraceback((MissingStep, step, None))


def _raised_in_the_notebook(tb: TracebackType | None, namespace: dict[str, Any]) -> bool:
    """True if the name was looked up in the notebook's own variables (a cell, or a function a cell defines)."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and last.tb_frame.f_globals is namespace


def _notebook() -> Path | None:
    """The kernel's notebook: JupyterLab puts its path (from the server's root) in ``JPY_SESSION_NAME``."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    if not session:
        return None
    for candidate in (Path(session), Path.cwd() / Path(session).name):
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate
    return None


def message(name: str, notebook: Path | None) -> str | None:
    """The line for a missing ``name``: which cell defines it; None if the notebook defines it nowhere."""
    after = "After a kernel restart, run the notebook from the top (Run > Run All Above Selected Cell)."
    if notebook is None:
        return f"`{name}` is not defined yet: run the cell that defines it first. {after}"
    where = defining_cell(notebook, name)
    if where is None:
        return None
    return f"`{name}` is not defined yet: run {where} first. {after}"


def defining_cell(notebook: Path, name: str) -> str | None:
    """'the cell under "1. The purge" that starts `buggy = ...`': the first code cell that defines ``name``."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return None
    section = ""
    for cell in cells:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            headings = _HEADING.findall(source)
            section = headings[-1].strip() if headings else section
        elif cell.get("cell_type") == "code" and name in _defined(source):
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                return "the parameters cell at the top"
            first = next((line.strip() for line in source.splitlines() if line.strip()), "")
            first = first if len(first) <= 60 else first[:57] + "..."
            return f'the cell under "{section}" that starts `{first}`' if section else f"the cell that starts `{first}`"
    return None


def _defined(source: str) -> set[str]:
    """The top-level names a cell's code binds (assignments, imports, defs, for/with targets), not a
    function's locals or a comprehension's variables."""
    code = "\n".join("" if _MAGIC.match(line) else line for line in source.splitlines())
    try:
        tree = compile(code, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return set()
    finder = _Bindings()
    finder.visit(tree)
    return finder.names


class _Bindings(ast.NodeVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def _scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.names.add(node.name)  # its body is a scope of its own

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def _skip(self, node: ast.AST) -> None:
        return None

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda = _skip

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.names.update((a.asname or a.name).split(".")[0] for a in node.names)

    visit_ImportFrom = visit_Import
