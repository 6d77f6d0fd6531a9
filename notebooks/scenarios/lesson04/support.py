"""What lesson 04's notebook calls: who is connected during a run, a run killed half-way,
coverage per worker, and wall-clock times of sequential and parallel runs. The notebook calls
these so its cells stay short; each one runs or reads something real. (Lesson helpers live
with their lesson, never in the shipped package: this one needs matplotlib and coverage.)"""

from __future__ import annotations

import asyncio
import os
import signal
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
from labsupport.teaching.parallel_timing import medians, speedups, time_suites  # shared with `labsupport bench parallel`

__all__ = ["worker_counts", "outcomes_by_worker", "header", "watch_activity", "start_suite", "kill_run",
           "coverage_by_worker", "time_suites", "medians", "speedups", "measure_title", "plot_speedups"]


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
    runs = f"medians of {repeats} runs per case" if repeats > 1 else "one run per case"
    return f"{tests} tests, {cpu_count} CPUs, {runs}"


def plot_speedups(found: Mapping[str, float], title: str = "") -> Any:
    """Speedup against database work per test, one line per worker count; 1.0 is break-even."""
    import matplotlib.pyplot as plt

    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for key, value in found.items():
        work, n = key.split(" ms/test, ")
        series[n].append((int(work), value))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for n, points in sorted(series.items()):
        xs, ys = zip(*sorted(points))
        ax.plot(xs, ys, marker="o", label=n)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("database work per test (ms)")
    ax.set_ylabel("speedup over -n 0 (x)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    plt.close(fig)
    return fig


def interpret(found: Mapping[str, float], work_ms: Sequence[int], worker_counts: Sequence[int],
              cpu_count: int | None) -> str:
    """What the measured speedups say, written from the figures, so it holds for every outcome."""
    lines = []
    for n in worker_counts:
        values = [(w, found[f"{w} ms/test, -n {n}"]) for w in work_ms]
        faster = [w for w, v in values if v > 1.0]
        best_w, best = max(values, key=lambda wv: wv[1])
        if not faster:
            lines.append(f"-n {n}: never faster than -n 0 here (best {best}x, at {best_w} ms per test). Up to "
                         f"{max(work_ms)} ms of database work per test, this machine is below the crossover: the "
                         f"workers' start-up costs more than their overlapping saves.")
        elif faster[0] == work_ms[0]:
            lines.append(f"-n {n}: faster than -n 0 at every measured point (best {best}x, at {best_w} ms per "
                         "test): the crossover lies below the least work measured.")
        else:
            lines.append(f"-n {n}: slower than -n 0 below {faster[0]} ms of database work per test, faster from "
                         f"there on (best {best}x, at {best_w} ms per test): the crossover is at most {faster[0]} ms.")
    if cpu_count is not None and any(n > cpu_count for n in worker_counts):
        lines.append(f"This machine has {cpu_count} CPUs: more workers than CPUs start up on the same cores, so "
                     "they need still more database work per test to pay off.")
    from labsupport.teaching.lesson import wrap

    return "\n".join(wrap(line) for line in lines)


# ---------------------------------------------------------------- the exercise (section 7)

EXERCISE = Path(__file__).resolve().parent / "exercise"


def check_exercise(prefix: str, env: Mapping[str, str], solution: bool) -> bool:
    """Run the exercise's checks, visible and hidden, with -n 2, for real; print the verdict."""
    from labsupport.teaching import lesson

    answer = "naming_solution" if solution else "naming_stub"
    result = run_suite(EXERCISE, "-n", "2", "--lab-db-prefix", prefix, env={**env, "LESSON04_ANSWER": answer})
    return lesson.verdict("lesson04", judge(result))


def judge(result: SuiteResult) -> Any:
    """The verdict: the first rule a name breaks, with where the lesson shows it."""
    from labsupport.teaching import lesson

    if result.ok:
        return lesson.Verdict(True, f"all {result.passed} checks pass, the hidden ones included, and two workers "
                              "each ran on the database your function named.")
    problems = " ".join(result.problems)
    rules = [
        ("would share a database", "two workers got the same name, so they would share one database: the case "
         "file's design, and section 1's races.", "put the worker id in the name (section 3, step 2, names them)."),
        ("start with the prefix", "a name does not start with the run's prefix and an underscore, or lacks the "
         "worker id.", "a later run finds a crashed run's databases by the prefix (section 3, step 1)."),
        ("must end in _test", "a name does not end in _test, so lesson 01's guard would refuse to clean it.",
         "end every name in _test."),
        ("PostgreSQL would cut it", "a name is longer than PostgreSQL's 63 bytes, so the server would cut it and "
         "two workers' names could end up equal.", "keep the name short: the prefix and the worker id, nothing more."),
        ("the run's template", "a worker's name equals the run's template, <prefix>_template_test, which the "
         "workers are cloned from.", "section 3, step 1, names the template; choose names that cannot meet it."),
        ("not a valid database name", "a name is not one the lab accepts for a database.",
         "letters, digits and underscores only."),
    ]
    for needle, message, hint in rules:
        if needle in problems:
            return lesson.Verdict(False, message, hint)
    first = result.problems[0] if result.problems else result.summary()
    return lesson.Verdict(False, f"{result.summary()}; the first failure: {lesson.shorten(first, 300)}",
                          "section 3 shows how labsupport names each worker's database.")
