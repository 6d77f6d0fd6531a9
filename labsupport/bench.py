"""``labsupport bench``: speed targets measured as medians, side by side in one run."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from . import databases
from .connection import run_sync
from .server import Cluster

__all__ = ["bench_server", "TARGETS"]

TARGETS = {"cold start": 1.5, "warm start": 0.3, "stop": None, "template clone": 0.050}


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_server(repeat: int = 5, report: Callable[[str], None] = print) -> dict[str, float]:
    """Medians of cold start (initdb + start), warm start, stop and a template clone, in seconds."""
    samples: dict[str, list[float]] = {k: [] for k in TARGETS}
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
            cluster = Cluster(Path(tmp) / "state")
            try:
                samples["cold start"].append(_timed(cluster.up))
                info = cluster.running()
                assert info is not None
                run_sync(databases.create(info.url, "bench_template"))
                for j in range(5):
                    samples["template clone"].append(
                        _timed(lambda: run_sync(databases.clone(info.url, "bench_template", f"bench_{j}_test"))))
                samples["stop"].append(_timed(cluster.down))
                samples["warm start"].append(_timed(cluster.up))
            finally:
                cluster.destroy()
        report(f"  round {i + 1}/{repeat} done")
    medians = {k: statistics.median(v) for k, v in samples.items()}
    for name, value in medians.items():
        target = TARGETS[name]
        verdict = "" if target is None else (f"  target <= {target * 1000:.0f} ms "
                                             f"{'met' if value <= target else 'MISSED'}")
        report(f"{name:<15} median {value * 1000:8.1f} ms over {len(samples[name])} samples{verdict}")
    return medians
