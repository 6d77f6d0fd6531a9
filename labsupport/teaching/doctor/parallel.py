"""``labsupport doctor --parallel [SUITE]``: the checks of the case file's verification script, for real.

Their script passed "worker isolation" with a failing test and "no race conditions" with 28
failures called pre-existing. Here each check runs the suite (default: the current directory,
as you would run your own) and fails unless every test of the run passed; one PASS/FAIL line
each, with a remedy. The doctor reads structured data only: the JUnit XML of each run, with
the per-test properties and the controller's JSON report that ``probe`` (loaded with
``-p``) writes, and pytest-cov's JSON report. Limits: the suite must use labsupport's
per-worker databases (``lab_metadata``) for the isolation checks to pass, and its tests must
pass on their own; the lab's server (or ``LAB_DATABASE_URL``'s) is offered as ``LAB_SERVER_URL``.
"""

from __future__ import annotations

import importlib.metadata
import json
import secrets
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ... import databases, server
from ...connection import run_sync
from ...errors import LabError
from ..suites import SCENARIOS, SuiteResult, run_suite
from .lab import Check
from .probe import DATABASE, REPORT_ENV, WORKER

__all__ = ["run_parallel_checks"]

_PROBE = ("-p", "labsupport.teaching.doctor.probe")


def _first_problem(run: SuiteResult) -> str:
    """A failed test's message, else the line pytest or a plugin failed the run with, else the last line."""
    if run.messages:
        return run.messages[0][:200]
    lines = [line.strip() for line in run.output.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("FAIL ", "ERROR"))]
    internal = [line for line in lines if line.startswith("INTERNALERROR")]  # its last line names the exception
    return (said[:1] or internal[-1:] or lines[-1:] or ["no output"])[0][:200]


def _by_worker(run: SuiteResult) -> dict[str, int]:
    return dict(sorted(Counter(t.properties.get(WORKER, "?") for t in run.tests).items()))


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _xdist() -> Check:
    version = _version("pytest-xdist")
    if version is None:
        return Check("pytest-xdist installed", False, "not installed", "pip install 'pytest-xdist>=3.6,<4'")
    return Check("pytest-xdist installed", True, f"version {version}")


def _parallel(run: SuiteResult, remedy: str, how: str = "") -> Check:
    spread = _by_worker(run)
    detail = f"{run.summary()}{f', {how}' if how else ''}; tests per worker {spread}"
    if not run.ok:
        return Check("parallel run (-n 2)", False, f"{detail}: {_first_problem(run)}", remedy)
    if len([w for w in spread if w.startswith("gw")]) < 2:
        return Check("parallel run (-n 2)", False, f"{detail}: the tests did not spread over two workers",
                     "remove xdist_group markers or --dist modes that pin the tests to one worker")
    return Check("parallel run (-n 2)", True, detail)


def _sequential(run: SuiteResult, remedy: str) -> Check:
    detail = f"{run.summary()}; tests per worker {_by_worker(run)}"
    if not run.ok or set(_by_worker(run)) != {"master"}:
        return Check("sequential run (-n 0)", False, f"{detail}: {_first_problem(run)}", remedy)
    return Check("sequential run (-n 0)", True, detail)


def _coverage(run: SuiteResult, report: Path, cov: str) -> Check:
    seen = [w for w in _by_worker(run) if w.startswith("gw")]
    try:
        percent = round(json.loads(report.read_text())["totals"]["percent_covered"])
    except (OSError, ValueError, KeyError):
        percent = None
    if not run.ok or percent is None or len(seen) < 2:
        why = _first_problem(run) if not run.ok else "no combined coverage report from two workers"
        if _version("pytest-cov") is None:
            remedy = "pip install 'pytest-cov>=6'; run with --cov=yourpackage"
        else:
            remedy = f"run it by hand to see why: pytest -n 2 {f'--cov={cov}' if cov else '--cov'} in the suite's folder"
        return Check("coverage under -n 2", False, why, remedy)
    return Check("coverage under -n 2", True, f"{percent}% of {cov or 'the measured code'}, combined from "
                                               f"{', '.join(seen)} by pytest-cov")


def _isolation(run: SuiteResult, prefix: str, left: list[str]) -> Check:
    used: dict[str, set[str]] = {}
    for t in run.tests:
        used.setdefault(t.properties.get(WORKER, "?"), set()).add(t.properties.get(DATABASE, ""))
    own = {w: next(iter(n)) for w, n in used.items() if w.startswith("gw") and len(n) == 1
           and next(iter(n)).startswith(prefix + "_")}
    if not run.ok or len(own) != len(used) or len(own) < 2 or len(set(own.values())) != len(own):
        shown = {w: sorted(n) for w, n in used.items()}
        return Check("worker isolation", False, f"databases per worker: {shown}",
                     "give each worker its own database (lab_metadata in pytest.ini; labsupport.pytest_plugin.workers)")
    if left:
        return Check("worker isolation", False, f"left on the server after the runs: {', '.join(left)}",
                     "drop them (labsupport url; DROP DATABASE ...) and see why the run did not")
    pairs = ", ".join(f"{w} -> {name}" for w, name in sorted(own.items()))
    return Check("worker isolation", True, f"one database per worker ({pairs}); none left afterwards")


def _configuration(report: dict[str, Any]) -> Check:
    problems = []
    if not report.get("lab_metadata"):
        problems.append("no lab_metadata (flag, ini or pytest.ini)")
    if "no_parallel" not in report.get("markers", []):
        problems.append("marker no_parallel not registered")
    if not report.get("configured"):
        problems.append("no per-worker databases set up by the controller")
    if _version("pytest-cov") is None:
        problems.append("pytest-cov not installed")
    if problems:
        return Check("configuration", False, "; ".join(problems),
                     "set lab_metadata = yourapp.models:Base.metadata in pytest.ini, pip install pytest-cov")
    run = report["run"]
    return Check("configuration", True, f"lab_metadata = {report['lab_metadata']} ({report['lab_metadata_from']}); "
                                        f"template {run['template']}; marker no_parallel registered; pytest-cov installed")


def _read_report(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _runs(suite: Path, admin_url: str, prefix: str, cov: str, tmp: Path) -> list[Check]:
    """The real runs of the suite, and the checks that read what they left.

    A run with two workers under coverage answers two checks at once: if it passed, the suite
    passes in parallel; if tests failed in it, the suite fails in parallel (never retried: a race
    that shows once is a finding). Only when every test passed and the run failed anyway (a coverage
    threshold, an option refused) is the suite run again with two workers and no coverage, to tell
    the two apart. Then one run with no workers."""
    env = {"LAB_SERVER_URL": admin_url, REPORT_ENV: str(tmp / "controller.json")}
    scenarios = suite.is_relative_to(SCENARIOS)  # a lesson's suite imports the demo app, flashcards
    remedy = f"run the suite by hand to see why: cd {suite} && pytest -n 2"
    common = (*_PROBE, "--lab-db-prefix", prefix)
    kw: dict[str, Any] = {"env": env, "scenarios": scenarios}
    cov_json = tmp / "coverage.json"
    covered = run_suite(suite, "-n", "2", *common, f"--cov={cov}" if cov else "--cov", f"--cov-report=json:{cov_json}",
                        env={**env, "COVERAGE_FILE": str(tmp / ".coverage")}, scenarios=scenarios)
    tests_failed = covered.failed or covered.errors
    parallel = covered if covered.ok or tests_failed else run_suite(suite, "-n", "2", *common, **kw)
    checks = [_parallel(parallel, remedy, "under coverage" if parallel is covered else ""),
              _sequential(run_suite(suite, "-n", "0", *common, **kw), remedy)]
    report = _read_report(tmp / "controller.json")
    checks.append(_coverage(covered, cov_json, cov))
    left = run_sync(databases.names_under(admin_url, prefix))
    checks += [_isolation(parallel, prefix, left), _configuration(report)]
    return checks


def run_parallel_checks(suite: str | Path = ".", cov: str = "", report: Callable[[str], None] = print) -> bool:
    """Run every check against ``suite``, reporting each as it finishes; True only when all pass."""
    target = Path(suite).resolve()
    if not target.exists():
        raise LabError(f"no test suite at {target}: name a folder or file of tests, e.g. labsupport doctor --parallel tests")
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        report(check.line())

    add(_xdist())
    if not checks[-1].ok:
        return False
    try:
        lease = server.acquire()
        info = lease.info
    except LabError as exc:
        add(Check("server", False, str(exc), "see 'labsupport status'"))
        return False
    prefix = f"doctor_{secrets.token_hex(3)}"
    try:
        with tempfile.TemporaryDirectory(prefix="lab-doctor-") as tmp:
            for check in _runs(target, info.url, prefix, cov, Path(tmp)):
                add(check)
    finally:
        run_sync(databases.drop_under(info.url, prefix))  # whatever a failed run could not drop itself
        server.release(lease)  # stops the server if this check started it and nothing else uses it
    return all(c.ok for c in checks)
