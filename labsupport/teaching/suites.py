"""Running a scenario's test suite for real: a nested pytest in a subprocess, with a clean environment and
only the plugins the suite uses, read back test by test from its JUnit XML."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import owners
from ..errors import LabError
from ..settings import project_root
from .display import shorten

__all__ = ["SCENARIOS", "SCENARIO_PLUGINS", "TestOutcome", "SuiteResult", "clean_env", "plugin_args",
           "pytest_command", "run_suite"]

SCENARIOS = project_root() / "notebooks" / "scenarios"

_STRIPPED_ENV = ("FORCE_COLOR", "PY_COLORS", "NO_COLOR", "PYTEST_", "COV_CORE_", "COVERAGE_")


@dataclass
class TestOutcome:
    name: str
    outcome: str  # passed, failed, error, skipped
    message: str
    seconds: float
    properties: dict[str, str] = field(default_factory=dict)  # record_property(), e.g. the xdist worker


@dataclass
class SuiteResult:
    """A pytest run of a scenario suite, read from its JUnit XML."""

    returncode: int
    tests: list[TestOutcome]
    output: str
    seconds: float

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tests)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.errors == 0 and self.passed > 0

    @property
    def messages(self) -> list[str]:
        return [t.message for t in self.tests if t.message and t.outcome in ("failed", "error")]

    @property
    def problems(self) -> list[str]:
        """The distinct failure messages, without JUnit's 'failed on setup with "..."' wrapping."""
        found: dict[str, None] = {}
        for message in self.messages:
            line = re.sub(r'^failed on (setup|teardown) with "', "", message)
            if line != message and line.endswith('"') and line.count('"') % 2:
                line = line[:-1]  # the wrapper's closing quote, when the message fits on its line
            found.setdefault(line)
        return list(found)

    def expect(self, pattern: str, what: str) -> str:
        """The first failure message matching ``pattern`` (a regular expression): the evidence a
        reproduction promised. If the run shows none, fail saying what was expected and what the
        run did instead, so a reproduction that stopped reproducing is never a bare ``StopIteration``."""
        found = next((m for m in self.problems if re.search(pattern, m)), None)
        if found is None:
            seen = "\n  ".join(self.problems) or "no failure at all"
            raise AssertionError(f"the run did not reproduce {what}: expected a failure matching {pattern!r}.\n"
                                 f"It gave: {self.summary()}\n  {seen}")
        return found

    def summary(self) -> str:
        return (f"{self.passed} passed, {self.failed} failed, {self.errors} errors "
                f"in {self.seconds:.2f} s (exit {self.returncode})")

    def __repr__(self) -> str:
        return f"<SuiteResult {self.summary()}>"

    def _repr_markdown_(self) -> str:
        rows = ["| test | outcome | message |", "|---|---|---|"]
        for t in self.tests:
            rows.append(f"| `{t.name}` | {t.outcome} | {shorten(t.message, 160).replace('|', '/')} |")
        return f"**{self.summary()}**\n\n" + "\n".join(rows)


def clean_env(extra: Mapping[str, str] | None = None, scenarios: bool = True) -> dict[str, str]:
    """The environment for a nested pytest: without the outer run's colour and PYTEST_* settings,
    and (``scenarios``) with ``notebooks/scenarios`` importable (the demo app is ``flashcards``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_ENV)}
    _write_bytecode(env)
    env.setdefault(owners.ENV_VAR, str(owners.current()))  # what the suite creates stays ours to reap
    if scenarios:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCENARIOS), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _write_bytecode(env: dict[str, str]) -> None:
    """Let a nested pytest keep what it compiles, as Python does by default.

    With ``PYTHONDONTWRITEBYTECODE`` (which container images often set) every nested process compiled the lab's modules and the suite's again, and rewrote the
    asserts of the plugins it loads, 0.1-0.2 CPU-s per process; a ``-n 2`` run has three and a lesson
    starts dozens. Without it, ``__pycache__`` folders appear beside the sources as in any Python
    project (git ignores them, JupyterLab hides them); a temporary suite's go with its folder, and
    where a folder cannot be written Python keeps the result in memory."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)


def _message_of(element: ET.Element) -> str:
    text = element.get("message") or element.text or ""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in lines:  # prefer the exception line over source context
        if re.match(r"^(E\s+)?[\w.]+(Error|Exception|Warning)\b", line):
            return re.sub(r"^E\s+", "", line)
    return lines[0] if lines else ""


def _parse_junit(path: Path) -> list[TestOutcome]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = _message_of(child)
                break
        name = case.get("name", "?")
        properties = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        tests.append(TestOutcome(name=name, outcome=outcome, message=message, seconds=float(case.get("time", 0)),
                                 properties=properties))
    return tests


# The pytest plugins the lab's scenario suites use (pytest11 entry-point names). Only these load in
# a suite under notebooks/scenarios: autoloading every installed plugin (hypothesis, anyio,
# pytest-postgresql ...) cost each nested run about a second of start-up, and a lesson starts dozens.
SCENARIO_PLUGINS = ("asyncio", "labsupport", "xdist", "pytest_cov")


def plugin_args(target: Path, plugins: Sequence[str] | None = None) -> list[str]:
    """``--disable-plugin-autoload -p NAME ...`` for ``plugins`` (default: ``SCENARIO_PLUGINS`` for a suite
    under notebooks/scenarios, else nothing: a suite of your own keeps every installed plugin).
    xdist hands the same arguments to its workers. A plugin whose entry-point name is also a module
    of the standard library is named by its own module instead: ``-p asyncio`` marks the standard
    library's asyncio package for pytest's assert rewriting, some thirty modules rewritten in every
    process (and written into the Python installation's own ``__pycache__``)."""
    if plugins is None:
        plugins = SCENARIO_PLUGINS if Path(target).resolve().is_relative_to(SCENARIOS.resolve()) else None
    if plugins is None:
        return []
    installed = _installed_plugins()
    names = [installed[n] if n in sys.stdlib_module_names else n for n in plugins if n in installed]
    return ["--disable-plugin-autoload", *(a for name in names for a in ("-p", name))]


@functools.cache
def _installed_plugins() -> dict[str, str]:
    """The installed pytest plugins, entry-point name -> module: read once, a lesson starts dozens of suites."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group="pytest11")}


def pytest_command(target: Path, *args: str, plugins: Sequence[str] | None = None) -> list[str]:
    """The one command line for a nested pytest on a suite: this interpreter, no cache, quiet, no colour,
    and for the lab's own scenario suites only the plugins they use (``plugin_args``).

    Tracebacks are Python's own (``--tb=native``): the lab reads a run's messages, not pytest's
    annotated source listings, and building those costs 0.1-0.2 s per failure through SQLAlchemy's
    deep stacks (lesson 04's failing runs took 5.3-6.7 s instead of 2.2-2.8 s). A later ``--tb`` wins."""
    return [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider", *plugin_args(target, plugins),
            "-q", "--color=no", "--tb=native", *args]


def run_suite(path: str | os.PathLike[str], *args: str, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike[str] | None = None, timeout: float = 900, scenarios: bool = True,
              plugins: Sequence[str] | None = None) -> SuiteResult:
    """Run pytest on a scenario suite in a subprocess and return what happened, test by test.
    ``plugins``: see ``plugin_args``."""
    target = Path(path).resolve()
    if not target.exists():
        raise LabError(f"no test suite at {target}")
    workdir = Path(cwd) if cwd else (target if target.is_dir() else target.parent)
    with owners.temp_folder("suite") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = pytest_command(target, f"--junitxml={junit}", "-o", "junit_family=xunit2", *args, plugins=plugins)
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, env=clean_env(env, scenarios), capture_output=True, text=True,
                              timeout=timeout, check=False)
        seconds = time.perf_counter() - started
        tests = _parse_junit(junit)
    return SuiteResult(returncode=proc.returncode, tests=tests, output=proc.stdout + proc.stderr, seconds=seconds)
