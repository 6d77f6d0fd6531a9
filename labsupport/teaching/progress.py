"""Progress bars for long measurements in a lesson: where a learner sees them as progress, not as an error.

A notebook shows a kernel's stderr in a red box, so a bar there reads like a failure; in a kernel the
bar goes to stdout (JupyterLab redraws the line in place), elsewhere to stderr as tqdm's usual place.
The text bar is used, not ``tqdm.auto``: that one wants ipywidgets, which the lab does not install.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["bar"]


def bar(total: int, desc: str, unit: str, disable: bool = False) -> tqdm[Any]:
    """A text progress bar on the stream a reader of this process sees as ordinary output."""
    stream = sys.stdout if "ipykernel" in sys.modules else sys.stderr
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=stream)
