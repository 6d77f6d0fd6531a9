"""``labsupport doctor --parallel``: the checks of the case file's verification script, for real.

Their script passed "worker isolation" with a failing test and "no race conditions" with 28
failures called pre-existing. Here each check runs lesson 04's fixed suite (a database per
worker) and fails unless every test of the run passed; one PASS/FAIL line each, with a remedy.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from . import server, workers
from .connection import run_sync
from .doctor import Check
from .errors import LabError
from .lesson import SCENARIOS, SuiteResult, run_suite

__all__ = ["SUITE", "run_parallel_checks"]

SUITE = SCENARIOS / "lesson04" / "fixed"
_REMEDY_RUN = "run the suite by hand to see why: cd notebooks/scenarios/lesson04/fixed && pytest -n 2"


def _first_problem(run: SuiteResult) -> str:
    return (run.messages or [run.output.strip().splitlines()[-1] if run.output.strip() else "no output"])[0][:200]


def _xdist() -> Check:
    try:
        return Check("pytest-xdist installed", True, f"version {importlib.metadata.version('pytest-xdist')}")
    except importlib.metadata.PackageNotFoundError:
        return Check("pytest-xdist installed", False, "not installed", "pip install 'pytest-xdist>=3.6,<4'")


def _by_worker(run: SuiteResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in run.tests:
        counts[t.properties.get("worker", "?")] = counts.get(t.properties.get("worker", "?"), 0) + 1
    return dict(sorted(counts.items()))


def _parallel(run: SuiteResult) -> Check:
    spread = _by_worker(run)
    detail = f"{run.summary()}; tests per worker {spread}"
    if not run.ok:
        return Check("parallel run (-n 2)", False, f"{detail}: {_first_problem(run)}", _REMEDY_RUN)
    if len([w for w in spread if w.startswith("gw")]) < 2:
        return Check("parallel run (-n 2)", False, f"{detail}: the tests did not spread over two workers",
                     "remove xdist_group markers or --dist modes that pin the tests to one worker")
    return Check("parallel run (-n 2)", True, detail)


def _sequential(run: SuiteResult) -> Check:
    detail = f"{run.summary()}; tests per worker {_by_worker(run)}"
    if not run.ok or set(_by_worker(run)) != {"master"}:
        return Check("sequential run (-n 0)", False, f"{detail}: {_first_problem(run)}", _REMEDY_RUN)
    return Check("sequential run (-n 0)", True, detail)


def _coverage(run: SuiteResult) -> Check:
    total = re.search(r"^TOTAL\s.*?(\d+)%\s*$", run.output, re.MULTILINE)
    workers_seen = [w for w in _by_worker(run) if w.startswith("gw")]
    if not run.ok or total is None or len(workers_seen) < 2:
        why = _first_problem(run) if not run.ok else "no combined TOTAL line from two workers"
        return Check("coverage under -n 2", False, why, "pip install 'pytest-cov>=6'; run with --cov=yourpackage")
    return Check("coverage under -n 2", True, f"TOTAL {total.group(1)}% of flashcards, combined from "
                                               f"{', '.join(workers_seen)} by pytest-cov")


def _isolation(run: SuiteResult, prefix: str, left: list[str]) -> Check:
    databases: dict[str, set[str]] = {}
    for t in run.tests:
        databases.setdefault(t.properties.get("worker", "?"), set()).add(t.properties.get("database", "?"))
    own = {w: names for w, names in databases.items()
           if w.startswith("gw") and names == {workers.database_name(prefix, w)}}
    if not run.ok or len(own) != len(databases) or len(own) < 2:
        return Check("worker isolation", False, f"databases per worker: {databases}",
                     "give each worker its own database (lab_metadata in pytest.ini, see labsupport.workers)")
    if left:
        return Check("worker isolation", False, f"left on the server after the runs: {', '.join(left)}",
                     "drop them (labsupport url; DROP DATABASE ...) and see why the run did not")
    shown = ", ".join(f"{w} -> {next(iter(n))}" for w, n in sorted(own.items()))
    return Check("worker isolation", True, f"one database per worker ({shown}); none left afterwards")


def _configuration(run: SuiteResult) -> Check:
    ini = configparser.ConfigParser()
    ini.read(SUITE / "pytest.ini")
    metadata = ini.get("pytest", "lab_metadata", fallback="").strip()
    markers = run_suite(SUITE, "--markers")
    problems = []
    if not metadata:
        problems.append("no lab_metadata in pytest.ini")
    if "@pytest.mark.no_parallel" not in markers.output:
        problems.append("marker no_parallel not registered")
    if "labsupport workers: parallel, 2 pytest-xdist workers" not in run.output:
        problems.append("no 'labsupport workers' line in the report header")
    try:
        importlib.metadata.version("pytest-cov")
    except importlib.metadata.PackageNotFoundError:
        problems.append("pytest-cov not installed")
    if problems:
        return Check("configuration", False, "; ".join(problems),
                     "set lab_metadata = yourapp.models:Base.metadata in pytest.ini and reinstall the lab")
    return Check("configuration", True, f"lab_metadata = {metadata}; marker no_parallel registered; report "
                                        "header names each worker's database; pytest-cov installed")


def run_parallel_checks(report: Callable[[str], None] = print) -> bool:
    """Run every check against the fixed suite, reporting each as it finishes; True only when all pass."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        report(check.line())

    add(_xdist())
    if not checks[-1].ok:
        return False
    try:
        info, started = server.up()
    except LabError as exc:
        add(Check("server", False, str(exc), "see 'labsupport status'"))
        return False
    prefix = f"doctor_{secrets.token_hex(3)}"
    env = {"LAB_SERVER_URL": info.url}
    try:
        with tempfile.TemporaryDirectory(prefix="lab-doctor-") as tmp:
            parallel = run_suite(SUITE, "-n", "2", "-v", "--lab-db-prefix", prefix, env=env)
            add(_parallel(parallel))
            add(_sequential(run_suite(SUITE, "-n", "0", "--lab-db-prefix", prefix, env=env)))
            covered = run_suite(SUITE, "-n", "2", "--lab-db-prefix", prefix, "--cov=flashcards",
                                "--cov-report=term", env={**env, "COVERAGE_FILE": str(Path(tmp) / ".coverage")})
            add(_coverage(covered))
            left = run_sync(workers.owned_databases(info.url, prefix))
            add(_isolation(parallel, prefix, left))
            add(_configuration(parallel))
    finally:
        run_sync(workers.drop_owned(info.url, prefix))  # whatever a failed run could not drop itself
        if started:
            server.down()
    return all(c.ok for c in checks)
