"""What a lesson's cell needs from the cells before it: a name an earlier cell defines, the parameters
cell's values. A missing step stops the cell with one line that names the cell to run, never a traceback."""

from __future__ import annotations

import sys
from typing import Any

from ..errors import LabError

__all__ = ["MissingStep", "needs", "parameter", "user_namespace"]


class MissingStep(LabError):
    """A cell needs something an earlier cell makes: shown as one line, never a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[1;31m{self}\x1b[0m"]


def user_namespace(depth: int = 2) -> dict[str, Any]:
    """The notebook's variables: the kernel's user namespace, else (outside IPython) the globals ``depth``
    frames up (2: those of whoever called the function that asks)."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    return shell.user_ns if shell is not None else sys._getframe(depth).f_globals


def needs(*names: str, where: str) -> None:
    """Stop the cell with one line ("run section 2 first") if a name it uses is not defined yet.

    For cells that depend on earlier ones, after a kernel restart or a skipped cell.
    """
    namespace = user_namespace(2)
    missing = [n for n in names if n not in namespace]
    if missing:
        what = ", ".join(f"`{n}`" for n in missing)
        raise MissingStep(f"Run {where} first: it defines {what}, which this cell uses. "
                          "(After a kernel restart, run the notebook from the top, or from that section's start.)")


def parameter(name: str, default: Any = None) -> Any:
    """A value of the parameters cell (``solution``, ``db_prefix`` ...), or ``default`` if that cell has
    not run in this kernel: a cell run alone after a restart gets the value a learner working by hand has."""
    return user_namespace(2).get(name, default)
