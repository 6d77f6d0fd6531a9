"""What lesson 03's notebook calls: its databases, real runs of the suites, the loop trace as a
table, the two exercises' checks, the measurement of the three fixes and its chart.

The exercises' reference answers and hidden tests live in ``labsupport.teaching.exercises``
(``folder("lesson03")``), out of the notebooks folder a learner browses."""

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

from labsupport.teaching import exercises, lesson
from labsupport.teaching.lesson import Lab, SuiteResult
from labsupport.teaching.noise import NOISE, load_average, overlap, spread
from labsupport.teaching.progress import bar as progress_bar

HERE = Path(__file__).resolve().parent
BUGGY = HERE / "buggy"
FIXES = {
    "engine_per_test": HERE / "fixes" / "engine_per_test",
    "nullpool": HERE / "fixes" / "nullpool",
    "session_loop": HERE / "fixes" / "session_loop",
}
BASELINE = HERE / "fixes" / "baseline"
TRAP = HERE / "trap_scope"
PREDICT = HERE / "predict"
EXERCISE = HERE / "exercise"
ANSWERS = exercises.folder("lesson03")
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


# ---------------------------------------------------------------- exercise 1: predict, then run


PREDICTED = ("plain_engine", "session_loop_engine", "engine_per_test")
_FORMS: tuple[list[int], ...] = ([], [1], [2], [1, 2])


def failing_tests(result: SuiteResult) -> dict[str, list[int]]:
    """For each engine of the predict suite, the tests (1, 2) that did not pass."""
    found: dict[str, list[int]] = {name: [] for name in PREDICTED}
    for t in result.tests:
        engine, _, number = t.name.removeprefix("test_").rpartition("_")
        if engine in found and t.outcome != "passed":
            found[engine].append(int(number))
    return found


def _why(engine: str, predicted: list[int], actual: list[int]) -> str:
    """What a wrong prediction for one engine missed, in the terms of sections 2 and 3."""
    if engine == "plain_engine":
        if 1 in predicted:
            return ("plain_engine: making an engine opens no connection. Its pool opens the first one when "
                    "test 1 first uses it, in test 1's loop, so test 1 passes; test 2 runs in a new loop and "
                    "gets that same connection back from the pool.")
        return ("plain_engine: the pool keeps the connection test 1 opened, in test 1's loop; test 2 runs in a "
                "loop of its own and gets it (section 2's conn #1).")
    if engine == "session_loop_engine":
        return ("session_loop_engine: the fixture connected once in the session's loop, so its pooled connection "
                "belongs to that loop, and no test runs there (asyncio_default_test_loop_scope = function): "
                f"tests {' and '.join(map(str, actual)) or 'none'} fail, from the first on.")
    return ("engine_per_test: each test makes its engine, and so its connection, in its own loop and disposes "
            "it there: a connection never meets a second loop.")


def judge_prediction(prediction: Any, actual: Mapping[str, list[int]]) -> lesson.Verdict:
    """Compare a prediction ({engine: failing tests}) with what the run did; one reason per engine missed."""
    form = "a dict with a list for each engine: [] (both pass), [1], [2] or [1, 2] (both fail)"
    if not isinstance(prediction, Mapping) or any(prediction.get(e) is None for e in PREDICTED):
        return lesson.Verdict(False, "write your prediction first.", f"`prediction` is {form}; then run the "
                              "cell again.")
    given = {e: sorted(prediction[e]) if isinstance(prediction[e], (list, tuple, set)) else prediction[e]
             for e in PREDICTED}
    if any(g not in _FORMS for g in given.values()):
        return lesson.Verdict(False, f"a prediction is not one of [], [1], [2], [1, 2]: {given}.",
                              f"`prediction` is {form}.")
    wrong = [e for e in PREDICTED if given[e] != actual[e]]
    if not wrong:
        return lesson.Verdict(True, "all three right: a connection works only in the loop that opened it, and "
                              "the table above shows which loop that was for each test.")
    return lesson.Verdict(False, f"{len(wrong)} of 3 engines not as predicted. "
                          + " ".join(_why(e, given[e], actual[e]) for e in wrong),
                          "compare each test's loop with the loop that opened its connection in the table above.")


async def check_prediction(lab: Lab, prediction: Any, solution: bool = False) -> bool:
    """Exercise 1: the predict suite, traced, on a fresh clone; the trace as a table, then the verdict.
    Without a prediction nothing runs: predict first, then look."""
    if solution:
        prediction = _reference("prediction.py")["PREDICTION"]
    if not isinstance(prediction, Mapping) or any(prediction.get(e) is None for e in PREDICTED):
        return lesson.verdict("lesson03-predict", judge_prediction(prediction, {}))
    url = await fresh_database(lab, await make_template(lab), "predict")
    result, events = run_traced(PREDICT, url)
    lesson.show_table([row[:2] + row[3:] for row in trace_rows(events)],
                      ["test", "runs in", "connection it got", "result"])
    return lesson.verdict("lesson03-predict", judge_prediction(prediction, failing_tests(result)))


def _reference(name: str) -> dict[str, Any]:
    """The names a reference file of ``labsupport.teaching.exercises`` defines (run, not imported)."""
    import runpy

    return runpy.run_path(str(ANSWERS / name))


# ---------------------------------------------------------------- exercise 2: the trap, in a suite that keeps its loops


@contextlib.contextmanager
def exercise_suite(solution: bool) -> Iterator[Path]:
    """A copy of your exercise/ (or with the reference conftest.py), with the check's hidden tests."""
    design = ANSWERS / "design"
    with tempfile.TemporaryDirectory(prefix="lab03-exercise-") as tmp:
        copy = Path(tmp) / "exercise"
        shutil.copytree(EXERCISE, copy, ignore=shutil.ignore_patterns("__pycache__"))
        if solution:
            shutil.copyfile(design / "conftest.py", copy / "conftest.py")
        shutil.copyfile(design / "test_zz_hidden.py", copy / "test_zz_hidden.py")
        yield copy


async def check_exercise(lab: Lab, solution: bool = False) -> bool:
    """Exercise 2: your suite and the hidden tests, for real, on a fresh clone; print the verdict."""
    url = await fresh_database(lab, await make_template(lab), "exercise")
    with exercise_suite(solution) as suite:
        result = run(suite, url)
    return lesson.verdict("lesson03", judge(result))


_KEEP_LOOPS = ("this suite keeps a loop per test, so its engine must keep no connection between checkouts "
               "(NullPool), or be made in each test")


def judge(result: SuiteResult) -> lesson.Verdict:
    """The verdict: the first cause the failures name, with where the lesson shows its fix."""
    if result.ok:
        return lesson.Verdict(True, f"{result.passed} tests passed, each in a loop of its own, the hidden ones "
                              "that run after the visible ones included.")
    problems = " ".join(result.problems)
    if "ScopeMismatch" in problems:
        return lesson.Verdict(False, "the trap: an async fixture with scope=\"session\" still runs in the "
                              "function's loop (ScopeMismatch).", f"scope is not the loop; {_KEEP_LOOPS}.")
    if "still running in this test's loop" in problems or "same event loop" in problems:
        return lesson.Verdict(False, "tests now share one event loop: a task an earlier test started is still "
                              "running in a later one.", f"keep pytest.ini's loop scopes at function; {_KEEP_LOOPS}.")
    if re.search(DIFFERENT_LOOP + "|" + ANOTHER_OPERATION + "|Event loop is closed|LoopMismatchError", problems):
        return lesson.Verdict(False, "tests get a pooled connection that another loop opened (attached to a "
                              "different loop): the engine's loop is not the tests'.", f"{_KEEP_LOOPS}.")
    if "MissingGreenlet" in problems:
        return lesson.Verdict(False, "a test read user.id after commit() and the session had expired it "
                              "(MissingGreenlet).", "use the app's session factory (db.async_session_maker), "
                              "which sets expire_on_commit=False.")
    if "fixture 'db_session' not found" in problems or "fixture 'client' not found" in problems:
        return lesson.Verdict(False, "the tests ask for fixtures named db_session and client, and your "
                              "conftest.py lacks one.", "keep both fixtures' names.")
    if "rows left by an earlier test" in problems or "did not see the test's user" in problems:
        return lesson.Verdict(False, "a test found rows an earlier one left, or a route did not see the test's "
                              "rows.", "the routes use the app's global engine (db.configure): give the tests "
                              "the same one, and empty the tables before each test, as the team's db_session does.")
    first = result.problems[0] if result.problems else result.summary()
    return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(clean(first), 300)}",
                          f"{_KEEP_LOOPS}.")


# ---------------------------------------------------------------- going further: what each fix costs


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
    """Run one fix's suite of ``tests`` small DB tests, timed, so the measurement can reuse the run."""
    return timed_run(FIXES[fix], url, tests)


@dataclass
class Measurement:
    """Overhead per test (ms) of each fix, one value per round, and whether every run passed."""

    tests: int
    overhead_ms: dict[str, list[float]] = field(default_factory=dict)
    baseline_ms: list[float] = field(default_factory=list)
    junit_ms: dict[str, list[float]] = field(default_factory=dict)
    all_passed: dict[str, bool] = field(default_factory=dict)
    load: list[str] = field(default_factory=list)  # the load average before and after

    def median(self, fix: str) -> float:
        return round(statistics.median(self.overhead_ms[fix]), 2)

    def add(self, fix: str, run: TimedResult) -> None:
        self.all_passed[fix] = self.all_passed.get(fix, True) and run.complete(self.tests)
        self.overhead_ms.setdefault(fix, []).append(statistics.fmean(run.ms or [0.0]) - self.baseline_ms[-1])
        self.junit_ms.setdefault(fix, []).append(junit_ms_per_test(run))

    def rows(self) -> list[tuple[str, ...]]:
        return [(LABELS[f], spread(values, "ms"), f"{self.median(f):.2f}",
                 f"{statistics.median(self.junit_ms[f]):.1f}", "yes" if self.all_passed[f] else "NO")
                for f, values in self.overhead_ms.items()]


def junit_ms_per_test(result: SuiteResult) -> float:
    """The suite's duration from its JUnit per-test times, per test (a cross-check)."""
    return 1000 * sum(t.seconds for t in result.tests) / max(len(result.tests), 1)


def measure(url: str, section4: Mapping[str, TimedResult] | None = None, repeats: int = 3, tests: int = 100,
            report: Callable[[str], None] = print) -> Measurement:
    """Overhead per test of the three fixes, in ``repeats`` rounds, each against a no-DB baseline.

    Round 1 reuses section 4's timed runs (when they ran ``tests`` tests) and adds one baseline
    run; every later round runs the baseline and the three fixes again, the fixes' order rotated,
    so a slow spell on a shared machine does not always land on the same fix. Overhead per test =
    the mean of a run's per-test times (setup + call + teardown) minus the same for the baseline
    of its round, so pytest's own cost per test cancels out. A progress bar counts the runs.
    """
    if repeats < 1 or tests < 1:
        raise lesson.LabError(f"repeats and tests must be at least 1, got {repeats} and {tests}")
    reuse = dict(section4 or {})
    reuse = reuse if set(reuse) == set(FIXES) and all(len(r.tests) == tests for r in reuse.values()) else {}
    m = Measurement(tests=tests, load=[load_average()])
    report(f"before: {m.load[0]}")
    names = list(FIXES)
    with progress_bar(repeats * 4 - len(reuse), "pytest runs", "run") as progress:
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
    m.load.append(load_average())
    report(f"after:  {m.load[1]}")
    return m


def plot(m: Measurement) -> Any:
    """Bars on a linear axis: the median overhead per test of each fix, its rounds' min-max as a whisker;
    the case file's 2 s guess is a note, since a bar 100 times taller would flatten the comparison."""
    import matplotlib.pyplot as plt

    names = [LABELS[f] for f in FIXES]
    medians = [statistics.median(m.overhead_ms[f]) for f in FIXES]  # unrounded: within its rounds' range
    low = [med - min(m.overhead_ms[f]) for f, med in zip(FIXES, medians, strict=True)]
    high = [max(m.overhead_ms[f]) - med for f, med in zip(FIXES, medians, strict=True)]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.bar(names, medians, yerr=[low, high], capsize=6, color=["#4c72b0", "#55a868", "#c44e52"])
    ax.set_ylabel("overhead per test (ms)")
    ax.set_title(f"{m.tests} small DB tests: median and min-max of {len(m.baseline_ms)} rounds")
    for bar, value in zip(bars, medians, strict=True):
        ax.annotate(f"{value:.2f} ms", (bar.get_x() + bar.get_width() / 2, 0), xytext=(0, 4),
                    textcoords="offset points", ha="center", va="bottom", color="white", fontweight="bold")
    ax.set_ylim(0, max(max(v) for v in m.overhead_ms.values()) * 1.25 or 1)
    ax.text(0.99, 0.97, f"the case file's estimate: {CASE_FILE_ESTIMATE_MS:.0f} ms per test\n(off this chart, "
            f"{CASE_FILE_ESTIMATE_MS / max(max(medians), 0.01):.0f}x the tallest bar)", transform=ax.transAxes,
            ha="right", va="top", fontsize=9, color="#555555")
    fig.tight_layout()
    plt.close(fig)
    return fig


def compare(m: Measurement) -> str:
    """What the rounds say, in sentences free of figures (the table has those): a fix is called cheaper
    than another only when their rounds' ranges do not overlap; otherwise it is within the noise."""
    values = {f: m.overhead_ms[f] for f in FIXES}
    lines = []
    for cheap, dear in (("session_loop", "engine_per_test"), ("session_loop", "nullpool"),
                        ("nullpool", "engine_per_test")):
        a, b = LABELS[cheap], LABELS[dear]
        if overlap(values[cheap], values[dear]):
            lines.append(f"{a} against {b}: {NOISE} (their rounds' ranges overlap).")
        elif max(values[cheap]) < min(values[dear]):
            lines.append(f"{a} cost less per test than {b} in every round.")
        else:
            lines.append(f"{a} cost more per test than {b} in every round.")
    lines.append(f"The case file's {CASE_FILE_ESTIMATE_MS / 1000:.0f} s per test is far above all three.")
    return "\n".join(lesson.wrap(line) for line in lines)


# ---------------------------------------------------------------- going further: the kernel


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


_START = "run this section from its first cell again (after a kernel restart: the set-up cells at the top first)"


def _real_cause(exit_code: int, output: str) -> str | None:
    """Why a kernel test failed other than by the lesson's bug, in one line, or None."""
    gone = re.search(r'database "(\w+)" does not exist', output)
    if gone:
        return (f"the database {gone[1]} is gone (the clean-up cell drops every database of this notebook): "
                f"{_START}, which makes it again.")
    if exit_code == 5:  # pytest: no tests collected
        return f"the cell that defines the test has not run: {_START}."
    if "run_in_thread" in output or "cannot be called from a running event loop" in output:
        return f"ipytest is not set up to run tests in a thread of their own: {_START}."
    return None


def show_kernel_demo(exit_code: int, output: str) -> list[str]:
    """Say what the kernel demo's run did; if the bug did not show, say why and what to run."""
    found = error_lines(output, DIFFERENT_LOOP)
    cause = _real_cause(exit_code, output) if not found else None
    if cause:
        raise lesson.MissingStep(f"The test did not show the bug: {cause}")
    if exit_code == 0:
        raise lesson.MissingStep("The test passed, so the bug did not show: the engine must be made, and used "
                                 f"once, in the cells above, in the kernel's own loop; {_START}.")
    if not found:
        last = next((ln for ln in reversed(output.splitlines()) if ln.startswith("E ")), f"exit code {exit_code}")
        raise lesson.MissingStep(f"The test failed, but not with the different-loop error ({lesson.shorten(last, 160)}): "
                                 f"{_START}.")
    print(f"exit code {exit_code}: the test failed, as expected:")
    print("\n".join(lesson.wrap(line) for line in found))
    return found


def show_kernel_fix(exit_code: int, output: str) -> None:
    """Say that the fixed kernel test passed, or in one line why it did not and what to run."""
    if exit_code == 0:
        print("passed: the engine was born in the test's own loop")
        return
    cause = _real_cause(exit_code, output)
    last = next((ln for ln in reversed(output.splitlines()) if ln.startswith("E ")), f"exit code {exit_code}")
    raise lesson.MissingStep(f"The test failed: {cause or lesson.shorten(last, 200) + '; ' + _START + '.'}")
