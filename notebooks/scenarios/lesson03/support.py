"""What lesson 03's notebook calls: its databases, real runs of the suites, the loop trace as a
table, the measurement of the three fixes, the chart, and the exercise's two conftests."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labsupport.teaching import lesson
from labsupport.teaching.lesson import Lab, SuiteResult

HERE = Path(__file__).resolve().parent
BUGGY = HERE / "buggy"
FIXES = {
    "engine_per_test": HERE / "fixes" / "engine_per_test",
    "nullpool": HERE / "fixes" / "nullpool",
    "session_loop": HERE / "fixes" / "session_loop",
}
BASELINE = HERE / "fixes" / "baseline"
TRAP = HERE / "trap_scope"
EXERCISE = HERE / "exercise"
SOLUTION = HERE / "exercise_solution"
HIDDEN = HERE / "exercise_checks" / "test_zz_hidden.py"
SMALL_TESTS = HERE / "small_db_tests.py"

CASE_FILE_ESTIMATE_MS = 2000.0  # "Accept ~2s overhead per test"
DIFFERENT_LOOP = r"got Future .* attached to a different loop"
ANOTHER_OPERATION = r"another operation is in progress"
LABELS = {"engine_per_test": "(a) engine per test", "nullpool": "(b) NullPool",
          "session_loop": "(c) session loop"}


# ---------------------------------------------------------------- databases and runs


async def make_template(lab: Lab) -> str:
    """A database with the Flashcards schema, to clone a fresh one per suite from (made if missing)."""
    from flashcards import models

    return await lab.template(models.Base.metadata)


async def fresh_database(lab: Lab, template: str, suffix: str) -> str:
    """A clone of the template (a file copy, ~20 ms), the template made again if a clean-up dropped it."""
    return lab.url(await lab.create_database(suffix, template=await make_template(lab)))


def run(suite: Path, url: str, *args: str, **env: str) -> SuiteResult:
    """Run one suite for real (its own pytest.ini), the app's database URL passed through env; only the
    plugins it uses load (``lesson.SCENARIO_PLUGINS``)."""
    return lesson.run_suite(suite, *args, env={"FLASHCARDS_DATABASE_URL": url, **env}, plugins=lesson.SCENARIO_PLUGINS)


def clean(message: str) -> str:
    """A JUnit message without pytest's 'failed on setup with "..."' wrapper."""
    return re.sub(r'^failed on (?:setup|teardown) with "(.*?)"?$', r"\1", message.strip())


def first_message(result: SuiteResult, pattern: str) -> str:
    """The first failure message that matches ``pattern`` (a regex), or ''."""
    return next((clean(m) for m in result.messages if re.search(pattern, m)), "")


def short(message: str) -> str:
    """A failure message cut to what tells the errors apart."""
    for pattern, text in ((DIFFERENT_LOOP, "RuntimeError: ... attached to a different loop"),
                          (ANOTHER_OPERATION, "InterfaceError: another operation is in progress"),
                          (r"ScopeMismatch", "ScopeMismatch: function-scoped runner, session-scoped fixture"),
                          (r"Event loop is closed", "RuntimeError: Event loop is closed")):
        if re.search(pattern, message):
            return text
    return lesson.shorten(clean(message), 120)


def outcomes_table(result: SuiteResult) -> list[tuple[str, str, str]]:
    """(test, outcome, short message) for every test of a run."""
    return [(t.name, t.outcome, short(t.message)) for t in result.tests]


# ---------------------------------------------------------------- the loop trace (section 2)


def run_traced(suite: Path, url: str, **env: str) -> tuple[SuiteResult, list[dict[str, Any]]]:
    """Run a suite with the loop_trace plugin; returns the result and the events it logged."""
    with tempfile.TemporaryDirectory(prefix="lab03-trace-") as tmp:
        log = Path(tmp) / "trace.jsonl"
        log.touch()
        result = run(suite, url, "-p", "lesson03.loop_trace", LESSON03_TRACE=str(log), **env)
        events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
    return result, events


def trace_rows(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per test: its loop, the engine, the pooled connection(s) it got and their loop, outcome."""
    rows: dict[str, dict[str, Any]] = {}
    born: dict[str, str] = {}
    for e in events:
        row = rows.setdefault(e["test"], {"loop": "", "engine": "", "conns": [], "result": "passed"})
        if e["event"] == "test":
            row["loop"] = e["loop"]
        elif e["event"] == "engine":
            row["engine"] = e["engine"]
        elif e["event"] == "connect":
            born[e["conn"]] = e["loop"]
        elif e["event"] == "checkout":
            pair = f"{e['conn']} (opened in loop {e['conn_loop']})"
            if pair not in row["conns"]:
                row["conns"].append(pair)
        elif e["event"] == "result" and e["outcome"] == "failed":
            kind = "error" if e["when"] != "call" else "failed"
            row["result"] = f"{kind}: {short(e['message'])}"
    return [(test, f"loop {r['loop']}", r["engine"], ", ".join(r["conns"]) or "-", r["result"])
            for test, r in rows.items() if test]


# ---------------------------------------------------------------- the measurement (section 5)


@dataclass
class TimedResult(SuiteResult):
    """A run of a suite with the timing plugin: what happened, and every test's duration (ms)."""

    ms: list[float] = field(default_factory=list)

    def complete(self, tests: int) -> bool:
        """Every one of ``tests`` tests ran, passed and was timed."""
        return self.ok and self.passed == tests and len(self.ms) == tests


def timed_run(suite: Path, url: str, tests: int) -> TimedResult:
    """Run a suite with the timing plugin (``tests`` small tests); the result carries each test's ms."""
    with tempfile.TemporaryDirectory(prefix="lab03-times-") as tmp:
        times = Path(tmp) / "times.json"
        result = run(suite, url, "-p", "lesson03.timing", LESSON03_TESTS=str(tests), LESSON03_TIMES=str(times))
        durations = json.loads(times.read_text(encoding="utf-8")) if times.exists() else {}
    return TimedResult(result.returncode, result.tests, result.output, result.seconds,
                       ms=[1000 * seconds for seconds in durations.values()])


def run_fix(fix: str, url: str, tests: int) -> TimedResult:
    """Section 4: run one fix's suite of ``tests`` small DB tests, timed, so section 5 can reuse the run."""
    return timed_run(FIXES[fix], url, tests)


@dataclass
class Measurement:
    """Overhead per test (ms) of each fix, one value per round, and whether every run passed."""

    tests: int
    overhead_ms: dict[str, list[float]] = field(default_factory=dict)
    baseline_ms: list[float] = field(default_factory=list)
    junit_ms: dict[str, list[float]] = field(default_factory=dict)
    all_passed: dict[str, bool] = field(default_factory=dict)

    def median(self, fix: str) -> float:
        return round(statistics.median(self.overhead_ms[fix]), 2)

    def add(self, fix: str, run: TimedResult) -> None:
        self.all_passed[fix] = self.all_passed.get(fix, True) and run.complete(self.tests)
        self.overhead_ms.setdefault(fix, []).append(statistics.fmean(run.ms or [0.0]) - self.baseline_ms[-1])
        self.junit_ms.setdefault(fix, []).append(junit_ms_per_test(run))

    def rows(self) -> list[tuple[str, ...]]:
        return [(LABELS[f], " / ".join(f"{v:.2f}" for v in values), f"{self.median(f):.2f}",
                 f"{statistics.median(self.junit_ms[f]):.1f}", "yes" if self.all_passed[f] else "NO")
                for f, values in self.overhead_ms.items()]


def junit_ms_per_test(result: SuiteResult) -> float:
    """The suite's duration from its JUnit per-test times, per test (a cross-check)."""
    return 1000 * sum(t.seconds for t in result.tests) / max(len(result.tests), 1)


def measure(url: str, section4: Mapping[str, TimedResult] | None = None, repeats: int = 2, tests: int = 120,
            report: Callable[[str], None] = print) -> Measurement:
    """Overhead per test of the three fixes, in ``repeats`` rounds, each against a no-DB baseline.

    Round 1 reuses section 4's timed runs (when they ran ``tests`` tests) and adds one baseline
    run; every later round runs the baseline and the three fixes again, the fixes' order rotated,
    so a slow spell on a shared machine does not always land on the same fix. Overhead per test =
    the mean of a run's per-test times (setup + call + teardown) minus the same for the baseline
    of its round, so pytest's own cost per test cancels out. A progress bar counts the runs.
    """
    from tqdm import tqdm  # text: tqdm.auto would want ipywidgets, which the lab does not install

    if repeats < 1 or tests < 1:
        raise lesson.LabError(f"repeats and tests must be at least 1, got {repeats} and {tests}")
    reuse = dict(section4 or {})
    reuse = reuse if set(reuse) == set(FIXES) and all(len(r.tests) == tests for r in reuse.values()) else {}
    m = Measurement(tests=tests)
    names = list(FIXES)
    progress = tqdm(total=repeats * 4 - len(reuse), desc="pytest runs", unit="run")
    for i in range(repeats):
        progress.set_postfix_str(f"round {i + 1}, baseline")
        base = timed_run(BASELINE, url, tests)
        progress.update()
        if not base.complete(tests):
            raise lesson.LabError(f"the no-DB baseline did not pass: {base.summary()}")
        m.baseline_ms.append(statistics.fmean(base.ms))
        for fix in names[i % 3:] + names[:i % 3]:
            if i == 0 and reuse:
                m.add(fix, reuse[fix])
                continue
            progress.set_postfix_str(f"round {i + 1}, {fix}")
            m.add(fix, timed_run(FIXES[fix], url, tests))
            progress.update()
        report(f"round {i + 1}/{repeats}{' (section 4 runs)' if i == 0 and reuse else ''}: " + ", ".join(
            f"{f} {m.overhead_ms[f][-1]:.2f} ms" for f in FIXES) + f" (baseline {m.baseline_ms[-1]:.2f} ms)")
    progress.close()
    return m


def plot(m: Measurement) -> Any:
    """Bars (log scale): median overhead per test of each fix, next to the case file's 2 s guess."""
    import matplotlib.pyplot as plt

    names = [LABELS[f] for f in FIXES] + ["case file's estimate"]
    values = [m.median(f) for f in FIXES] + [CASE_FILE_ESTIMATE_MS]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.bar(names, values, color=["#4c72b0", "#55a868", "#c44e52", "#bbbbbb"])
    bars[-1].set_hatch("//")
    ax.set_yscale("log")
    ax.set_ylabel("overhead per test (ms, log scale)")
    ax.set_title(f"{m.tests} small DB tests, median of {len(m.baseline_ms)} rounds")
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:g} ms", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
    ax.set_ylim(0.5, CASE_FILE_ESTIMATE_MS * 4)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- the kernel (section 6)


def ipytest_run(*args: str) -> tuple[int, str]:
    """Run the notebook's tests with ipytest (its own thread and loop); returns (exit code, output).

    ``raise_on_error`` is off here so the notebook can show a failing run and read its output.
    """
    import ipytest

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = ipytest.run(*args, raise_on_error=False)
    return int(code), buffer.getvalue()


def error_lines(output: str, pattern: str) -> list[str]:
    """Lines of a pytest output that match ``pattern``, without the leading 'E   '."""
    return sorted({re.sub(r"^E\s+", "", line).strip() for line in output.splitlines() if re.search(pattern, line)})


def show_kernel_demo(exit_code: int, output: str) -> list[str]:
    """Say what the kernel demo's run did; if the bug did not show, say which cell was skipped."""
    found = error_lines(output, DIFFERENT_LOOP)
    start = "Run section 6 from its start (after a restart: the set-up cells at the top first)"
    if exit_code == 5:  # pytest: no tests collected
        raise lesson.MissingStep(f"{start}: the cell that defines test_with_the_kernels_engine has not run.")
    if exit_code == 0:
        raise lesson.MissingStep(f"{start}: the test passed, so the bug did not show. The engine must be made, "
                                 "and used once, in the cells above, in the kernel's own loop, before the test runs.")
    if not found:
        raise lesson.MissingStep(f"{start}: the test failed, but not with the different-loop error "
                                 f"(did lesson.setup_ipytest(...) run?). Exit code {exit_code}.")
    print(f"exit code {exit_code}: the test failed, as expected:")
    print("\n".join(lesson.wrap(line) for line in found))
    return found


# ---------------------------------------------------------------- the exercise (section 7)


@contextlib.contextmanager
def exercise_suite(solution: bool) -> Iterator[Path]:
    """A copy of your exercise/ (or of the reference solution's files), with the check's hidden tests."""
    with tempfile.TemporaryDirectory(prefix="lab03-exercise-") as tmp:
        copy = Path(tmp) / "exercise"
        shutil.copytree(EXERCISE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        if solution:
            for name in ("conftest.py", "pytest.ini"):
                shutil.copyfile(SOLUTION / name, copy / name)
        shutil.copyfile(HIDDEN, copy / HIDDEN.name)
        yield copy


async def check_exercise(lab: Lab, solution: bool) -> bool:
    """Run the exercise's six tests and the hidden ones, for real, on a fresh clone; print the verdict."""
    url = await fresh_database(lab, await make_template(lab), "exercise")
    with exercise_suite(solution) as suite:
        result = run(suite, url)
    return lesson.verdict("lesson03", judge(result))


_FIXES = "section 4 shows three fixes, each a conftest.py you can adapt (and, for (c), a pytest.ini)"


def judge(result: SuiteResult) -> lesson.Verdict:
    """The verdict: the first cause the failures name, with where the lesson shows its fix."""
    if result.ok:
        return lesson.Verdict(True, f"{result.passed} tests passed, the 6 visible ones and {result.passed - 6} "
                              "hidden ones that run after them.")
    problems = " ".join(result.problems)
    if re.search(DIFFERENT_LOOP + "|" + ANOTHER_OPERATION + "|Event loop is closed", problems):
        return lesson.Verdict(False, "tests after the first still get a pooled connection that an earlier test's "
                              "event loop opened (attached to a different loop).",
                              f"the loop that uses a connection must be the loop that opened it: {_FIXES}.")
    if "MissingGreenlet" in problems:
        return lesson.Verdict(False, "a test read an attribute such as user.id after commit(): the session had "
                              "expired it, and loading it again needs a query that async SQLAlchemy cannot run "
                              "there (MissingGreenlet).",
                              "create the session with expire_on_commit=False, as fix (c) in section 4 does.")
    if "ScopeMismatch" in problems:
        return lesson.Verdict(False, "a session-scoped async fixture runs in a function-scoped event loop "
                              "(ScopeMismatch).",
                              "fix (c) in section 4 puts fixtures and tests in the session loop in pytest.ini; "
                              "the trap in section 4 shows this very error.")
    if "LoopMismatchError" in problems:
        return lesson.Verdict(False, "a session engine is used from the tests' function-scoped loops "
                              "(LoopMismatchError).",
                              "set asyncio_default_test_loop_scope = session too, as fix (c)'s pytest.ini does.")
    if "fixture 'db_session' not found" in problems:
        return lesson.Verdict(False, "the tests ask for a fixture named db_session, and your conftest.py has none.",
                              "keep the fixture's name; section 4's fixes call theirs `session`.")
    if "rows left by an earlier test" in problems or re.search(r"assert [1-9]\d* == 0", problems):
        return lesson.Verdict(False, "a test found rows that an earlier test left: each test must start from "
                              "empty tables.", "roll back each test's outer transaction, as fix (c) in section 4 "
                              "does (or delete rows first, as the team's db_session did).")
    first = result.problems[0] if result.problems else result.summary()
    return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(clean(first), 300)}",
                          f"{_FIXES}.")


def compare(m: Measurement) -> str:
    """What the medians say, in words true for whatever order they came out in."""
    a, b, c = (m.median(f) for f in FIXES)
    lines = [f"the case file's 2 s is {CASE_FILE_ESTIMATE_MS / a:.0f}x what (a) costs per test here ({a:.1f} ms)."]
    for name, other in (("(a)", a), ("(b)", b)):
        if c < other:
            lines.append(f"(c) cost {other / c:.1f}x less than {name} ({c:.1f} ms against {other:.1f} ms).")
        else:
            lines.append(f"(c) did not cost less than {name} in this run ({c:.1f} ms against {other:.1f} ms): "
                         "a busy machine blurs small differences; run section 5 again, or with more repeats.")
    return "\n".join(lesson.wrap(line) for line in lines)
