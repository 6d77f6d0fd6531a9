"""Per-test durations for lesson 03's measurement, as a pytest plugin (``-p lesson03.timing``).

JUnit XML has the same number per test (setup + call + teardown) but rounds it to 1 ms,
too coarse for a test that takes 2 ms; this writes it unrounded, as JSON, to the file
named by ``LESSON03_TIMES``: {node id: seconds}.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

_seconds: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid] += report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    with open(os.environ["LESSON03_TIMES"], "w", encoding="utf-8") as out:
        json.dump(dict(_seconds), out)
