"""Wall-clock times of whole pytest runs, sequential and with xdist workers: lesson 04's "when do workers pay off?"
and ``labsupport bench parallel`` time the same suite the same way, with this one helper.

Each case is one ``pytest`` run of the suite, timed from outside, start-up included, with
``LESSON04_WORK_MS`` milliseconds of database work per test; the modes (``-n 0`` and each worker
count) take turns, so a slow spell on a shared machine does not always land on the same mode.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import LabError
from .suites import SCENARIOS, run_suite

__all__ = ["MEASURE_SUITE", "time_suites", "medians", "speedups", "crossovers"]

MEASURE_SUITE = SCENARIOS / "lesson04" / "measure"


def time_suites(path: Any, work_ms: Sequence[int], worker_counts: Sequence[int], repeats: int, prefix: str,
                env: Mapping[str, str], *, progress: bool = True,
                report: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Wall-clock seconds of whole pytest runs (start-up included), sequential and with each
    worker count, for each amount of database work per test; the modes take turns. ``progress``
    shows a progress bar (tqdm); ``report`` is called with each row as it is measured."""
    from .progress import bar as progress_bar

    rows = []
    bar = progress_bar(repeats * len(work_ms) * (1 + len(worker_counts)), "pytest runs", "run", disable=not progress)
    try:
        for repeat in range(repeats):
            for work in work_ms:
                for n in (0, *worker_counts):
                    bar.set_postfix_str(f"{work} ms/test, -n {n}")
                    run = run_suite(path, "-n", str(n), "--lab-db-prefix", prefix,
                                    env={**env, "LESSON04_WORK_MS": str(work)})
                    bar.update()
                    if not run.ok:
                        raise LabError(f"the timing run with -n {n} and {work} ms per test failed: {run.summary()}: "
                                       f"{(run.messages or [run.output[-300:]])[0]}")
                    rows.append({"repeat": repeat, "work_ms": work, "workers": n, "seconds": run.seconds,
                                 "tests": run.passed})
                    if report:
                        report(rows[-1])
    finally:
        bar.close()
    return rows


def medians(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], float]:
    """Median seconds per (work per test, workers); workers 0 is the sequential run."""
    keys = sorted({(r["work_ms"], r["workers"]) for r in rows})
    return {k: statistics.median(r["seconds"] for r in rows if (r["work_ms"], r["workers"]) == k) for k in keys}


def speedups(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Median sequential time over median parallel time, per work per test and worker count."""
    m = medians(rows)
    return {f"{work} ms/test, -n {n}": round(m[(work, 0)] / m[(work, n)], 2) for work, n in m if n}


def crossovers(found: Mapping[str, float], work_ms: Sequence[int],
               worker_counts: Sequence[int]) -> dict[int, int | None]:
    """Per worker count, the least measured work per test (ms) from which every larger measured
    amount ran faster than ``-n 0`` too; None when the largest measured amount was not faster."""
    result: dict[int, int | None] = {}
    for n in worker_counts:
        first = None
        for work in sorted(work_ms, reverse=True):
            if found[f"{work} ms/test, -n {n}"] <= 1.0:
                break
            first = work
        result[n] = first
    return result
