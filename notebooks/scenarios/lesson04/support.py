"""What lesson 04's notebook calls: who is connected during a run, a run killed half-way (exercise 1),
a prefix per CI branch (exercise 2), coverage per worker, and wall-clock times of sequential and
parallel runs with a conclusion that holds whatever the noise. The notebook calls these so its cells
stay short; each one runs or reads something real. (Lesson helpers live with their lesson, never in
the shipped package: this one needs matplotlib and coverage. The exercises' reference answers and
hidden tests are the exception: ``labsupport.teaching.exercises`` keeps them out of the notebooks
folder a learner browses.)"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from labsupport import databases
from labsupport.connection import connect
from labsupport.pytest_plugin import workers
from labsupport.teaching.lesson import SuiteResult, clean_env, pytest_command, run_suite
from labsupport.teaching.noise import NOISE, load_average, overlap, spread
from labsupport.teaching.parallel_timing import (  # shared with `labsupport bench parallel`
    medians,
    speedups,
    time_suites,
)

__all__ = ["worker_counts", "outcomes_by_worker", "header", "watch_activity", "start_suite", "kill_run",
           "coverage_by_worker", "time_suites", "medians", "speedups", "measure_title", "spreads", "timing_rows",
           "conclusion", "conclusions", "plot_times", "load_average", "check_crash", "check_exercise"]


def worker_counts(result: SuiteResult) -> dict[str, int]:
    """Tests per worker, from the ``worker`` property each test recorded (JUnit XML)."""
    return dict(sorted(Counter(t.properties.get("worker", "?") for t in result.tests).items()))


def outcomes_by_worker(result: SuiteResult) -> list[tuple[str, str]]:
    """(worker, "5 passed, 10 failed") rows: what each worker's share of the suite did."""
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for t in result.tests:
        by[t.properties.get("worker", "?")][t.outcome] += 1
    return [(w, ", ".join(f"{n} {o}" for o, n in sorted(c.items()))) for w, c in sorted(by.items())]


def header(result: SuiteResult, marker: str = "labsupport workers:") -> str:
    """The report-header lines a plugin wrote (the run needs verbosity 0, e.g. ``-v`` after ``-q``)."""
    return "\n".join(line for line in result.output.splitlines() if line.startswith(marker))


async def watch_activity(admin_url: str, prefix: str, job: asyncio.Future[Any] | subprocess.Popen[Any],
                         until_workers: int | None = None, every: float = 0.05,
                         timeout: float = 300) -> list[tuple[str, str]]:
    """Poll ``pg_stat_activity`` from a connection of our own until ``job`` ends (or, with
    ``until_workers``, until that many ``pytest-gw*`` applications were seen): every
    (application_name, database) seen on the databases of ``prefix``'s runs."""
    like = databases.like_prefix(prefix)
    seen: set[tuple[str, str]] = set()
    conn = await connect(admin_url)
    deadline = time.monotonic() + timeout

    def running() -> bool:
        return job.poll() is None if isinstance(job, subprocess.Popen) else not job.done()

    def enough() -> bool:
        return until_workers is not None and len({a for a, _ in seen if a.startswith("pytest-gw")}) >= until_workers

    try:
        while running() and not enough() and time.monotonic() < deadline:
            rows = await conn.fetch("SELECT application_name, datname FROM pg_stat_activity "
                                    "WHERE datname LIKE $1 AND pid <> pg_backend_pid()", like)
            seen.update((r["application_name"], r["datname"]) for r in rows if workers.owns(prefix, r["datname"]))
            await asyncio.sleep(every)
    finally:
        await conn.close()
    return sorted(seen)


def start_suite(path: str | os.PathLike[str], *args: str,
                env: Mapping[str, str] | None = None) -> subprocess.Popen[Any]:
    """Start a suite like ``lesson.run_suite`` does, but in the background and in a process group
    of its own, so that the whole run (controller and workers) can be killed at once."""
    target = Path(path).resolve()
    return subprocess.Popen(pytest_command(target, *args), cwd=target if target.is_dir() else target.parent, env=clean_env(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_run(proc: subprocess.Popen[Any]) -> int:
    """Kill a run started by ``start_suite``, controller and workers, with SIGKILL, as a crash or a
    CI timeout would: no clean-up code of theirs runs. Returns the exit status (negative: a signal)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


def coverage_by_worker(data_file: str | os.PathLike[str], result: SuiteResult) -> dict[str, set[tuple[str, int]]]:
    """The lines each worker's tests covered, from a combined coverage file measured with
    ``--cov-context=test`` and the worker each test recorded."""
    from coverage import CoverageData

    data = CoverageData(basename=str(data_file))
    data.read()
    worker_of = {t.name: t.properties.get("worker", "?") for t in result.tests}
    lines: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for path in data.measured_files():
        for lineno, contexts in (data.contexts_by_lineno(path) or {}).items():
            for context in contexts:
                test = context.split("|")[0].rsplit("::", 1)[-1]  # "test_x.py::test_y[1]|run" -> "test_y[1]"
                if test in worker_of:
                    lines[worker_of[test]].add((path, lineno))
    return dict(sorted(lines.items()))


def measure_title(tests: int, cpu_count: int | None, repeats: int) -> str:
    """The plot's title: what was measured, on how many CPUs, and over how many runs per case."""
    return f"{tests} tests, {cpu_count} CPUs, {repeats} runs per case: median and min-max"


def spreads(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[int, int], list[float]]:
    """Every run's seconds per (work per test, workers); workers 0 is the sequential run."""
    found: dict[tuple[int, int], list[float]] = defaultdict(list)
    for r in rows:
        found[(r["work_ms"], r["workers"])].append(r["seconds"])
    return dict(sorted(found.items()))


def timing_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """The table beside the conclusion: each case's runs as min-max and median, in seconds."""
    return [(f"{work} ms", f"-n {n}", spread(values, "s"), f"{statistics.median(values):.2f} s", str(len(values)))
            for (work, n), values in spreads(rows).items()]


def conclusion(rows: Sequence[Mapping[str, Any]], work: int, n: int) -> str:
    """One sentence, free of figures, on -n ``n`` against -n 0 at ``work`` ms per test: faster or slower
    only when every run of one mode beat every run of the other; otherwise within the noise."""
    runs = spreads(rows)
    sequential, parallel = runs[(work, 0)], runs[(work, n)]
    if len(sequential) < 3 or len(parallel) < 3:
        return f"At {work} ms per test, -n {n} against -n 0: too few runs to tell (at least 3 each)."
    if overlap(sequential, parallel):
        return f"At {work} ms per test, -n {n} against -n 0: {NOISE}, their runs' ranges overlap."
    verdict = "faster" if max(parallel) < min(sequential) else "slower"
    return f"At {work} ms per test, -n {n} was {verdict} than -n 0 in every run on this machine."


def conclusions(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``conclusion`` for every measured work per test and worker count."""
    return [conclusion(rows, work, n) for work, n in spreads(rows) if n]


def plot_times(rows: Sequence[Mapping[str, Any]], title: str = "") -> Any:
    """Every run's seconds, one column per case (work per test, mode), the median as a bar: the spread
    a learner must see before trusting a difference."""
    import matplotlib.pyplot as plt

    cases = spreads(rows)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, ((_work, n), values) in enumerate(cases.items()):
        color = "#4c72b0" if n == 0 else "#dd8452"
        ax.bar(i, statistics.median(values), width=0.6, color=color, alpha=0.35)
        ax.scatter([i] * len(values), values, color=color, zorder=3)
    ax.set_xticks(range(len(cases)), [f"{work} ms/test\n-n {n}" for work, n in cases])
    ax.set_ylabel("whole run (s): each run, median bar")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- exercise 1: what a killed run leaves

PARTS = ("template", "master", "gw0", "gw1")


def _part(prefix: str, name: str) -> str:
    return name.removeprefix(prefix + "_").removesuffix("_test")


def judge_crash(prediction: Any, left: set[str]) -> Any:
    """A prediction of the databases a SIGKILL leaves ({"template", "gw0", ...}) against what was left."""
    from labsupport.teaching import lesson

    form = 'a set of names from "template", "master", "gw0", "gw1" (an empty set() if you expect none)'
    if prediction is None:
        return lesson.Verdict(False, "write your prediction first.", f"`prediction` is {form}; then run the "
                              "cell again.")
    if not isinstance(prediction, (set, frozenset, list, tuple)) or not set(prediction) <= set(PARTS):
        return lesson.Verdict(False, f"{prediction!r} is not {form}.", "for example {\"gw0\"}.")
    given = set(prediction)
    if given == left:
        return lesson.Verdict(True, "right: SIGKILL runs no clean-up code, so the template and both workers' "
                              "copies stay until the next run of this prefix removes them.")
    why = []
    if "template" in left - given:
        why.append("the controller drops the template only when the run ends (section 2, step 3), and the kill "
                   "ended it first.")
    if (left - given) & {"gw0", "gw1"}:
        why.append("each worker drops its copy when it ends (step 2); SIGKILL ends it without that.")
    if "master" in given - left:
        why.append("master is the one process of a run without xdist; with -n 2 the workers are gw0 and gw1, "
                   "and the controller has no database to test in.")
    if (given - left) - {"master"}:
        why.append(f"{', '.join(sorted((given - left) - {'master'}))} was not there when the run was killed.")
    return lesson.Verdict(False, "not quite: " + " ".join(why), "compare your set with the table above.")


async def check_crash(admin_url: str, prefix: str, env: Mapping[str, str], prediction: Any,
                      solution: bool = False) -> list[str]:
    """Exercise 1: start the fixed suite with -n 2, watch who connects, kill it with SIGKILL, list what
    is left and judge the prediction. Without a prediction the run still happens (the next section
    needs a killed run), but what it left is not shown: predict first, then look."""
    from labsupport.teaching import lesson

    if solution:
        prediction = {"template", "gw0", "gw1"}
    fixed = Path(__file__).resolve().parent / "fixed"
    hold = start_suite(fixed / "test_workers.py", "-n", "2", "--dist", "each", "-k", "stays_connected",
                       "--lab-db-prefix", prefix, env={**env, "LESSON04_HOLD": "60"})
    try:
        seen = await watch_activity(admin_url, prefix, hold, until_workers=2)
    finally:
        kill_run(hold)
    left = await workers.owned_databases(admin_url, prefix)
    lesson.record("worker_databases_seen", sorted({db for app, db in seen if app.startswith("pytest-gw")}))
    lesson.record("left_by_crash", left)
    if prediction is not None:
        lesson.show_table(seen, ["application_name (while it ran)", "datname"])
        lesson.show_table([(name,) for name in left], ["left on the server after the kill"])
    lesson.verdict("lesson04-crash", judge_crash(prediction, {_part(prefix, n) for n in left}))
    return left


# ---------------------------------------------------------------- exercise 2: a prefix per branch

EXERCISE = Path(__file__).resolve().parent / "exercise"
BRANCH = "feature/JIRA-1234-Remember-the-last-deck-a-user-opened"


def check_exercise(project: str, env: Mapping[str, str], solution: bool = False) -> bool:
    """Exercise 2: your ci_prefix for a long branch, then the suite with -n 2 under that prefix, the
    hidden tests included, for real; print the verdict."""
    import shutil
    import tempfile

    from labsupport.teaching import exercises, lesson

    answers = exercises.folder("lesson04")
    with tempfile.TemporaryDirectory(prefix="lab04-exercise-") as tmp:
        suite = Path(tmp) / "exercise"
        shutil.copytree(EXERCISE, suite, ignore=shutil.ignore_patterns("__pycache__"))
        if solution:
            shutil.copyfile(answers / "ci_prefix.py", suite / "ci_prefix.py")
        shutil.copyfile(answers / "test_zz_hidden.py", suite / "test_zz_hidden.py")
        try:
            prefix = _load_answer(suite / "ci_prefix.py").ci_prefix(project, BRANCH)
            databases.validate_prefix(prefix, f"ci_prefix({project!r}, {BRANCH!r}) gave")
        except Exception as exc:  # noqa: BLE001 - the learner's code: any error is their answer's
            return lesson.verdict("lesson04", judge_invalid(exc))
        result = run_suite(suite, "-n", "2", "--lab-db-prefix", prefix,
                           env={**env, "LESSON04_PROJECT": project, "LESSON04_BRANCH": BRANCH})
    return lesson.verdict("lesson04", judge(result))


def _load_answer(path: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("learner_ci_prefix", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RULES = "lower-case letters, digits and underscores, a letter first, no '_' last, at most 40 bytes"


def judge_invalid(exc: BaseException) -> Any:
    """The verdict when ci_prefix raised, or gave a prefix labsupport refuses."""
    from labsupport.teaching import lesson

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "longer than" in text:
        return lesson.Verdict(False, f"{text}.", "cut the readable part of the branch so the whole prefix fits "
                              "in 40 bytes, with room for whatever makes it unique.")
    if "must be lower-case" in text:
        return lesson.Verdict(False, f"{text}.", f"a prefix is {_RULES}: turn every other character of the "
                              "branch into '_' and lower-case it.")
    return lesson.Verdict(False, f"ci_prefix raised {type(exc).__name__}: {lesson.shorten(text, 200)}",
                          "run it yourself in a cell: ci_prefix(\"shop\", \"feature/Login-Page\").")


def judge(result: SuiteResult) -> Any:
    """The verdict on the suite's run: the first rule a prefix breaks, with where the lesson shows it."""
    from labsupport.teaching import lesson

    if result.ok:
        return lesson.Verdict(True, f"all {result.passed} checks pass, the hidden ones included, and two workers "
                              "each ran on a database under your prefix.")
    problems = " ".join(result.problems)
    rules = [
        ("this process another prefix", "another process got another prefix for the same branch, so the next "
         "run of a branch could not find what a crashed run left.", "Python's hash() of a str changes from "
         "process to process (PYTHONHASHSEED), and a random or time-based part changes on every run: use a digest "
         "from hashlib of the branch name."),
        ("would share a prefix", "two branches would share a prefix, and so one lock and one crashed run's "
         "leftovers (section 2, step 1).", "branches may start alike or differ only in punctuation: add a short "
         "digest (hashlib) of the exact branch name."),
        ("not a valid prefix", "for some branch, ci_prefix gives a prefix labsupport refuses.",
         f"a prefix is {_RULES}, whatever the branch name holds (dots, accents, a '-' at either end)."),
        ("does not start with", "a prefix does not start with the project and an underscore.",
         "start with project + '_', so a person reading \\l knows the project."),
        ("where is", "the branch is not readable in the prefix.", "put a lower-cased start of the branch, "
         "its punctuation turned into '_', after the project."),
        ("start with 'shop_' and the branch", "the branch is not readable in the prefix.",
         "put a lower-cased start of the branch, its punctuation turned into '_', after the project."),
    ]
    for needle, message, hint in rules:
        if needle in problems:
            return lesson.Verdict(False, message, hint)
    first = result.problems[0] if result.problems else result.summary()
    return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(first, 300)}",
                          "section 2 shows how labsupport names each run's databases.")
