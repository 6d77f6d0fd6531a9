"""``build/bench/results.json``: one file for every ``labsupport bench`` part, merged key by key, and
the machine the figures came from."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "machine_facts", "merge_results"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> dict[str, Any]:
    """Cores, CPU, Python, platform and the load average when the figures were taken."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "load_average_1_5_15_min": load}


def merge_results(out: Path, update: dict[str, Any]) -> Path:
    """Write ``update``'s keys into ``out/results.json``, keeping every other part's keys."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(current, dict):
            current = {}
    except (OSError, ValueError):
        current = {}
    current.update(update)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return path
