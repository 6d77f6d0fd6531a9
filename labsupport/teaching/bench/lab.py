"""``labsupport bench lab``: what running the lab's notebooks costs, as ``labsupport run`` runs them.

Three figures, all wall-clock seconds on this machine: a ``python3`` kernel's start (started and
asked for ``kernel_info`` until it answers, median of a few), every notebook run one after the other
(``labsupport run``) with each notebook's own time and the part of it spent outside its cells
(kernel start, papermill), and the same notebooks two at a time (``labsupport run -j 2``).
``make test``'s time is not measured here: run ``time make test`` after ``make .venv/.installed``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labsupport import server

from ..notebooks import NotebookResult, discover, run_all
from .results import machine_facts, merge_results

__all__ = ["kernel_start_seconds", "bench_lab", "TARGETS_S", "check_targets"]

# The lab's own cost targets for ``labsupport run`` on 2 cores (sequential wall seconds).
# Targets live here, in the bench, never in a test's assert: a busy machine misses them, and says so.
TARGETS_S = {"all notebooks (wall)": 120.0, "03_different_loop_future": 35.0, "04_parallel_workers": 50.0}


async def _one_kernel_start() -> float:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3")
    started = time.perf_counter()
    await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # its TCP warning: not ours
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=300)
        return time.perf_counter() - started
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)


def kernel_start_seconds(times: int = 3) -> list[float]:
    """Seconds from starting a ``python3`` kernel until it answers, ``times`` times in a row."""
    return [asyncio.run(_one_kernel_start()) for _ in range(times)]


def _in_cells(output: Path) -> float:
    """Seconds the executed notebook's cells took, from papermill's per-cell durations."""
    try:
        cells = json.loads(output.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return 0.0
    return sum((c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in cells)


def _timed_run(notebooks: list[Path], url: str, jobs: int, report: Callable[[str], None]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lab-labbench-") as tmp:
        started = time.perf_counter()
        results: list[NotebookResult] = run_all(notebooks, url, jobs=jobs, out_dir=Path(tmp) / "notebooks",
                                                report=lambda line: report(f"  {line}"))
        wall = time.perf_counter() - started
        per = {r.name: {"seconds": round(r.seconds, 1), "in_cells_s": round(_in_cells(r.output), 1),
                        "passed": r.ok} for r in results}
    return {"jobs": jobs, "wall_s": round(wall, 1), "notebooks": per, "all_passed": all(r.ok for r in results)}


def check_targets(sequential: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of ``TARGETS_S`` against the sequential run: the figure, its bound and whether it was met."""
    found = {"all notebooks (wall)": sequential["wall_s"],
             **{name: fig["seconds"] for name, fig in sequential["notebooks"].items()}}
    return [{"what": what, "seconds": found[what], "target_s": bound, "met": found[what] <= bound}
            for what, bound in TARGETS_S.items() if what in found]


def table(runs: dict[str, dict[str, Any]], kernel: list[float]) -> list[str]:
    seq, par = runs["sequential"], runs.get("jobs_2")
    lines = [f"{'notebook':<30} {'sequential (s)':>14} {'outside cells':>14}" + (f" {'-j 2 (s)':>9}" if par else "")]
    for name, fig in seq["notebooks"].items():
        tail = f" {par['notebooks'][name]['seconds']:9.1f}" if par else ""
        lines.append(f"{name:<30} {fig['seconds']:14.1f} {fig['seconds'] - fig['in_cells_s']:14.1f}{tail}")
    lines.append(f"{'all notebooks (wall)':<30} {seq['wall_s']:14.1f} {'':>14}" + (f" {par['wall_s']:9.1f}" if par else ""))
    lines.append(f"kernel start (python3 kernel until it answers): median {statistics.median(kernel):.2f} s "
                 f"of {len(kernel)} ({', '.join(f'{k:.2f}' for k in kernel)})")
    for t in check_targets(seq):
        lines.append(f"target: {t['what']} <= {t['target_s']:.0f} s: {t['seconds']:.1f} s, {'met' if t['met'] else 'MISSED'}")
    return lines


def bench_lab(quick: bool = False, out: Path = Path("build/bench"), *,
              report: Callable[[str], None] = print) -> dict[str, Any]:
    """Kernel start, then every notebook sequentially and ``-j 2``; print the table and merge the
    ``lab`` key into ``out/results.json``. ``quick``: notebook 00 only, one kernel start."""
    notebooks = discover(["00"] if quick else [])
    started = time.perf_counter()
    facts = machine_facts()
    report(f"lab: kernel start, then {len(notebooks)} notebook(s) sequentially and -j 2 on "
           f"{facts['cores']} cores ({facts['cpu']})")
    kernel = kernel_start_seconds(1 if quick else 3)
    runs: dict[str, dict[str, Any]] = {}
    with server.ensure() as info:
        report("sequential (labsupport run):")
        runs["sequential"] = _timed_run(notebooks, info.url, 1, report)
        report("two at a time (labsupport run -j 2):")
        runs["jobs_2"] = _timed_run(notebooks, info.url, 2, report)
    for line in table(runs, kernel):
        report(line)
    result = {"benchmark": "lab", "quick": quick, "machine": facts, "kernel_start_s": [round(k, 2) for k in kernel],
              "kernel_start_median_s": round(statistics.median(kernel), 2), **runs,
              "targets": check_targets(runs["sequential"]),
              "make_test": "not measured here: `time make test` after `make .venv/.installed`",
              "seconds": round(time.perf_counter() - started, 1)}
    merge_results(out, {"lab": result})
    report(f"wrote the lab key of {Path(out) / 'results.json'} in {result['seconds']:.0f} s")
    return result
