"""Whether two sets of timings differ by more than this machine's noise, said in words a learner can trust.

A lesson that measures on a shared machine repeats each case, shows the spread (min-max) and the
load average, and draws a conclusion only when the spreads do not overlap; otherwise it says
"within the noise here". The sentences are free of figures, so the same conclusion reads the
same on every run; the figures go beside them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["spread", "overlap", "load_average", "NOISE"]

NOISE = "within the noise here"


def spread(values: Sequence[float], unit: str = "", digits: int = 2) -> str:
    """``min-max`` of the values ("1.20-1.35 s"); one value alone stands as it is."""
    if not values:
        raise ValueError("no values to show the spread of")
    low, high = min(values), max(values)
    text = f"{low:.{digits}f}" if low == high else f"{low:.{digits}f}-{high:.{digits}f}"
    return f"{text} {unit}".rstrip()


def overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when the ranges min-max of ``a`` and of ``b`` share a point: no order can be claimed."""
    return min(a) <= max(b) and min(b) <= max(a)


def load_average() -> str:
    """This machine's load average over 1, 5 and 15 minutes, and its CPUs, in one line."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # not every platform has one
        return f"load average: not available here ({os.cpu_count()} CPUs)"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min), {fifteen:.2f} (15 min) on {os.cpu_count()} CPUs"
