"""Every notebook, many times in a row, as a CI maintainer runs them: sequentially and with ``-j 2``.

A lab whose notebooks pass nine runs in ten rejects good work at random, so this runs the user's
own command, ``labsupport run`` (and ``labsupport run -j 2``), ROUNDS times each (10 by default;
``LAB_SOAK_ROUNDS`` changes it) and asserts 0 failures, no database left on the server after a
round, and says how many kernel starts needed their one retry. The counts go to
``build/soak.txt`` (xdist hides prints; ``make test-soak`` shows the file). Marked ``soak``.

CI bounds it in time: with ``LAB_SOAK_MINUTES`` set, a mode starts no round that its median round
says would end past that many minutes, and the report says how many of the rounds asked for ran
(never fewer than MIN_ROUNDS, or the test fails).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsupport import databases
from labsupport.connection import run_sync

pytestmark = pytest.mark.soak

ROUNDS = int(os.environ.get("LAB_SOAK_ROUNDS", "10"))
BUDGET_S = float(os.environ.get("LAB_SOAK_MINUTES", "0")) * 60 or float("inf")
MIN_ROUNDS = min(3, ROUNDS)
ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "build" / "soak.txt"
LABSUPPORT = Path(sys.executable).with_name("labsupport")


def _databases(url: str) -> set[str]:
    return set(run_sync(databases.names(url)))


@pytest.mark.parametrize("jobs", [1, 2], ids=["sequential", "j2"])
def test_every_notebook_passes_every_round(jobs: int, lab_server) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "FORCE_COLOR"}
    before = _databases(lab_server.url)
    failures: list[str] = []
    failed_rounds: set[int] = set()
    retries = 0
    seconds: list[float] = []
    for i in range(1, ROUNDS + 1):
        if i > MIN_ROUNDS and sum(seconds) + _median(seconds) > BUDGET_S:
            break
        started = time.monotonic()
        run = subprocess.run([str(LABSUPPORT), "run", "-j", str(jobs)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=1200)
        seconds.append(time.monotonic() - started)
        retries += len(re.findall(r"kernel start retried once", run.stdout))
        if run.returncode != 0:
            failed_rounds.add(i)
            failures.append(f"round {i}: exit {run.returncode}: {run.stderr.strip()[-400:] or run.stdout.strip()[-400:]}")
        left = _databases(lab_server.url) - before
        if left:
            failed_rounds.add(i)
            failures.append(f"round {i} left databases: {sorted(left)}")
    mode = "sequential" if jobs == 1 else f"-j {jobs}"
    ran = len(seconds)
    bounded = f" ({ROUNDS} asked; the {BUDGET_S / 60:.0f}-minute budget ended it)" if ran < ROUNDS else ""
    REPORT.parent.mkdir(exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as report:
        report.write(f"labsupport run {mode}: {ran - len(failed_rounds)}/{ran} rounds passed"
                     f"{bounded}, {retries} kernel start(s) retried, median {_median(seconds):.0f} s a round\n")
    assert not failures, f"{len(failures)} problem(s) in {ran} rounds of labsupport run {mode}: " + "; ".join(failures)


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]
