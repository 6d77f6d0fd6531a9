"""``labsupport bench``: speed targets measured as medians, side by side in one run."""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ... import databases
from ...connection import run_sync
from ...server.cluster import Cluster, memory_ok
from .results import machine_facts, merge_results

__all__ = ["bench_server", "TARGETS"]

TARGETS = {"cold start": 1.5, "warm start": 0.3, "stop": None, "template clone": 0.050}


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@contextmanager
def _placement(in_memory: bool) -> Iterator[None]:
    before = os.environ.get("LAB_DATA_IN_MEMORY")
    os.environ["LAB_DATA_IN_MEMORY"] = "1" if in_memory else "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LAB_DATA_IN_MEMORY", None)
        else:
            os.environ["LAB_DATA_IN_MEMORY"] = before


def _clone(url: str, name: str) -> None:
    run_sync(databases.clone(url, "bench_template", name))


def _round(samples: dict[str, list[float]]) -> None:
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        os.chmod(tmp, 0o755)  # the server user (as root) must reach its data folder
        cluster = Cluster(Path(tmp) / "state")
        try:
            samples["cold start"].append(_timed(cluster.up))
            info = cluster.running()
            assert info is not None
            run_sync(databases.create(info.url, "bench_template"))
            for j in range(5):
                samples["template clone"].append(_timed(functools.partial(_clone, info.url, f"bench_{j}_test")))
            samples["stop"].append(_timed(cluster.down))
            samples["warm start"].append(_timed(cluster.up))
        finally:
            cluster.destroy()


def bench_server(repeat: int = 5, report: Callable[[str], None] = print,
                 out: Path | None = None) -> dict[str, dict[str, float]]:
    """Medians (seconds) of cold start, warm start, stop and a template clone, per data placement.

    The placements alternate round by round, so both see the same machine load. With ``out``, the
    medians also go to the ``server_timings`` key of ``out/results.json``.
    """
    placements = ["memory", "disk"] if memory_ok().in_memory else ["disk"]
    samples: dict[str, dict[str, list[float]]] = {p: {k: [] for k in TARGETS} for p in placements}
    for i in range(repeat):
        for place in placements:
            with _placement(place == "memory"):
                _round(samples[place])
        report(f"  round {i + 1}/{repeat} done")
    medians = {p: {k: statistics.median(v) for k, v in s.items()} for p, s in samples.items()}
    default = placements[0]
    report(f"data folder in {default} (the default here){'; disk shown for comparison' if len(placements) > 1 else ''}")
    for name, target in TARGETS.items():
        cells = []
        for place in placements:
            cells.append(f"{place} {medians[place][name] * 1000:7.1f} ms")
        ratio = ""
        if len(placements) > 1 and medians["memory"][name] > 0:
            ratio = f"  disk/memory {medians['disk'][name] / medians['memory'][name]:5.1f}x"
        verdict = "" if target is None else (
            f"  target <= {target * 1000:.0f} ms {'met' if medians[default][name] <= target else 'MISSED'}")
        report(f"{name:<15} " + "   ".join(cells) + ratio + verdict)
    if out is not None:
        merge_results(out, {"server_timings": {"repeat": repeat, "default_placement": default,
                                               "median_s": medians, "targets_s": TARGETS,
                                               "machine": machine_facts()}})
        report(f"wrote the server_timings key of {Path(out) / 'results.json'}")
    return medians
