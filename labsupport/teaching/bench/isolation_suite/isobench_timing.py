"""Per-test durations as a pytest plugin (``-p isobench_timing``), written to ``$ISOBENCH_TIMES`` as JSON.

The number is pytest's own setup + call + teardown per test, the one JUnit XML reports, but unrounded
(JUnit XML rounds to 1 ms, too coarse for a test that takes 1-2 ms).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

_seconds: defaultdict[str, float] = defaultdict(float)
_failed: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid] += report.duration
    if report.failed:
        _failed.add(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    with open(os.environ["ISOBENCH_TIMES"], "w", encoding="utf-8") as out:
        json.dump({"seconds": dict(_seconds), "failed": sorted(_failed)}, out)
