"""A lesson's recorded outcomes: written into the notebook's own output, invisible to the learner, and read
back from the executed notebook by the runner, the tests and ``make test-latest``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import LabError

__all__ = ["OUTCOME_MIME", "record", "read_outcomes"]

OUTCOME_MIME = "application/vnd.isolation-lab.outcome+json"


def record(key: str, value: Any) -> Any:
    """Record an outcome in the notebook's own output, where ``read_outcomes`` finds it later, and
    return ``value``. The learner sees nothing: the output's text is empty."""
    try:
        json.dumps(value)
    except TypeError:
        raise LabError(f"outcome {key!r} must be JSON-serialisable, got {type(value).__name__}") from None
    bundle = {OUTCOME_MIME: {"key": key, "value": value}, "text/plain": ""}
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(bundle, raw=True)
    except ImportError:
        pass
    return value


def read_outcomes(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Every ``record``-ed outcome of an executed notebook; the last value of a key wins."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if OUTCOME_MIME in data:
                item = data[OUTCOME_MIME]
                found[item["key"]] = item["value"]
    return found
