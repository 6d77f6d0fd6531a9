"""``labsupport bench parallel``: when do xdist workers pay off, on this machine?

Lesson 04's measured suite (``notebooks/scenarios/lesson04/measure``: each test inserts a user, a
deck and five cards into its worker's own database, counts them, then keeps the server busy
``work`` ms with ``pg_sleep``) runs as whole ``pytest`` processes, timed from outside with start-up
included, at ``-n 0`` and each worker count, for each amount of work per test; the modes take
turns (``parallel_timing.time_suites``, the helper lesson 04 uses). Figures: median seconds per
case, speedup = median ``-n 0`` time over median ``-n N`` time, and the crossover: the least
measured work per test from which the workers were faster. The core count goes beside every figure.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from labsupport import databases, server, urls
from labsupport.connection import run_sync

from ..parallel_timing import MEASURE_SUITE, crossovers, medians, speedups, time_suites
from .results import machine_facts, merge_results

__all__ = ["FULL", "QUICK", "bench_parallel"]



class Plan(TypedDict):
    """What one bench measures: each work per test (ms) at -n 0 and each worker count, ``repeats`` rounds."""

    work_ms: list[int]
    worker_counts: list[int]
    tests: int
    repeats: int


FULL: Plan = {"work_ms": [0, 5, 20, 100], "worker_counts": [2, 4], "tests": 40, "repeats": 3}
QUICK: Plan = {"work_ms": [0, 100], "worker_counts": [2, 4], "tests": 20, "repeats": 1}


def table(m: dict[tuple[int, int], float], found: dict[str, float], plan: Plan, cores: int) -> list[str]:
    counts = plan["worker_counts"]
    head = f"{'work/test':>9} {'cores':>5} {'-n 0 (s)':>9}" + "".join(f" {f'-n {n} (s)':>9} {'speedup':>8}" for n in counts)
    lines = [head]
    for w in plan["work_ms"]:
        cells = "".join(f" {m[(w, n)]:9.2f} {found[f'{w} ms/test, -n {n}']:7.2f}x" for n in counts)
        lines.append(f"{f'{w} ms':>9} {cores:>5} {m[(w, 0)]:9.2f}{cells}")
    return lines


def describe_crossovers(cross: dict[int, int | None], plan: Plan, cores: int) -> list[str]:
    lines = []
    for n, work in cross.items():
        if work is None:
            lines.append(f"-n {n} on {cores} cores: not faster than -n 0 at {max(plan['work_ms'])} ms per test, "
                         "the most measured: the crossover lies beyond the measured range")
        elif work == min(plan["work_ms"]):
            lines.append(f"-n {n} on {cores} cores: faster than -n 0 from the least measured work ({work} ms per "
                         "test) on: the crossover lies at or below it")
        else:
            lower = max(w for w in plan["work_ms"] if w < work)
            lines.append(f"-n {n} on {cores} cores: faster than -n 0 from {work} ms of database work per test on; "
                         f"the crossover lies between {lower} and {work} ms")
    return lines


def chart(found: dict[str, float], plan: Plan, cores: int, path: Path) -> Path:
    """Speedup against work per test, one line per worker count, 1.0 (break-even) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for n in plan["worker_counts"]:
        ys = [found[f"{w} ms/test, -n {n}"] for w in plan["work_ms"]]
        ax.plot(plan["work_ms"], ys, marker="o", label=f"-n {n} ({cores} cores)")
        for w, y in zip(plan["work_ms"], ys, strict=True):
            ax.annotate(f"{y:.2f}x", (w, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("database work per test (ms)")
    ax.set_ylabel("speedup over -n 0 (x)")
    ax.set_title(f"{plan['tests']} tests, whole pytest runs, medians of {plan['repeats']}; {cores} cores", fontsize=10)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bench_parallel(quick: bool = False, out: Path = Path("build/bench"), *,
                   report: Callable[[str], None] = print) -> dict[str, Any]:
    """Time the suite at ``-n 0`` and each worker count for each work per test; print the table,
    merge the ``parallel`` key into ``out/results.json``, draw ``out/parallel.png``."""
    plan = QUICK.copy() if quick else FULL.copy()
    cores = os.cpu_count() or 1
    started = time.perf_counter()
    runs = plan["repeats"] * len(plan["work_ms"]) * (1 + len(plan["worker_counts"]))
    with server.ensure() as info:
        prefix = f"parbench_{secrets.token_hex(3)}"
        report(f"parallel: {plan['tests']} tests x work {plan['work_ms']} ms x -n 0/"
               f"{'/'.join(map(str, plan['worker_counts']))} x {plan['repeats']} round(s) = {runs} pytest runs, "
               f"{cores} cores, on {urls.describe(info.url)} ({info.source}); databases {prefix}_*")

        def progress(row: dict[str, Any]) -> None:
            report(f"  round {row['repeat'] + 1}/{plan['repeats']}  {row['work_ms']:>3} ms/test  -n {row['workers']}  "
                   f"{row['seconds']:6.2f} s")

        try:
            rows = time_suites(MEASURE_SUITE, plan["work_ms"], plan["worker_counts"], plan["repeats"], prefix,
                               {"LAB_SERVER_URL": info.url, "LESSON04_TESTS": str(plan["tests"])},
                               progress=False, report=progress)
        finally:
            run_sync(databases.drop_under(info.url, prefix))
    m = medians(rows)
    found = speedups(rows)
    cross = crossovers(found, plan["work_ms"], plan["worker_counts"])
    for line in table(m, found, plan, cores) + describe_crossovers(cross, plan, cores):
        report(line)
    result = {
        "benchmark": "parallel", "quick": quick, **plan, "cores": cores, "machine": machine_facts(),
        "suite": str(MEASURE_SUITE.relative_to(MEASURE_SUITE.parents[3])),
        "method": ("each case is one whole pytest run of the suite, timed from outside, start-up included; the modes "
                   "take turns; per case the median over rounds; speedup = median -n 0 seconds / median -n N seconds"),
        "cells": [{"work_ms": w, "workers": n, "median_s": round(m[(w, n)], 3), "cores": cores,
                   **({"speedup": found[f"{w} ms/test, -n {n}"]} if n else {})} for (w, n) in m],
        "speedups": found, "crossover_ms": {f"-n {n}": w for n, w in cross.items()},
        "runs": rows, "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(out)
    merge_results(out, {"parallel": result})
    chart(found, plan, cores, out / "parallel.png")
    report(f"wrote the parallel key of {out / 'results.json'} and {out / 'parallel.png'} in {result['seconds']:.0f} s")
    return result
