"""``labsupport bench isolation``: what one small database test costs under each isolation strategy.

One suite (``isolation_suite/small_tests.py``: N tests that insert a row and read it back) runs
unchanged under every strategy, each a real ``pytest`` subprocess with its own conftest.py and
pytest.ini (``isolation_suite/<strategy>/``), all on the same server: the lab's own, or
LAB_DATABASE_URL's. The strategies run interleaved, their order rotated from round to round, so a slow
spell on a shared machine does not always land on the same one.

What is measured, per run of a strategy: every test's duration as pytest reports it (setup + call +
teardown, the number JUnit XML holds, unrounded, by the ``isobench_timing`` plugin), and the run's
figure is the median over its tests. Session-scoped work (building a template, creating an engine)
lands on the first test and so is left out of the median; the JSON keeps the mean as well. A strategy's
figure is the median of its runs' figures, with min and max as the spread; its overhead per test is that
minus the figure of the no-DB baseline that runs in the same loop scope (the same async tests touching no
database: a new event loop per test for the function-loop strategies, the session loop for the fast path),
so pytest-asyncio's own per-test work is not billed to the database. The floor and the two reference rows
run without pytest (loops in this process), so their overhead is their own time per iteration. The
plugin's own cost per test is the fast path's median minus the test bodies' and the session loop's
no-DB baseline.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

# The lab's launcher and database helpers: the only imports from outside the teaching room.
from labsupport import databases, server, urls
from labsupport.connection import connect, fetchval, run_sync
from labsupport.errors import LabError

from .results import machine_facts, merge_results

__all__ = ["Strategy", "STRATEGIES", "TARGETS", "CASE_FILE_MS", "bench_isolation"]

SUITE = Path(__file__).resolve().parent / "isolation_suite"
CASE_FILE_MS = 2000.0  # case file 003: "Accept ~2s overhead per test"
_STRIPPED_ENV = ("FORCE_COLOR", "PY_COLORS", "NO_COLOR", "PYTEST_", "COV_CORE_", "COVERAGE_", "PG")


class Strategy(NamedTuple):
    key: str
    label: str
    tests: str  # which suite file it runs, "" for the loops without pytest (floor, references)
    baseline: str = "baseline"  # whose median its overhead is measured from; "" for its own time


STRATEGIES = [
    Strategy("baseline", "no-DB baseline (a new loop per test)", "no_db_tests.py", ""),
    Strategy("baseline_session", "no-DB baseline, session loop", "no_db_tests.py", ""),
    Strategy("floor", "floor: raw asyncpg loop, no pytest", "", ""),
    Strategy("ref_bodies", "reference: test bodies in a plain loop, no pytest", "", ""),
    Strategy("ref_connect", "reference: floor on a new connection each, no pytest", "", ""),
    Strategy("lab_default", "lab default chain (lab_session, NullPool)", "small_tests.py"),
    Strategy("lab_fast", "lab fast path (lab_pooled_engine, session loop)", "small_tests.py", "baseline_session"),
    Strategy("nullpool", "NullPool engine, connection per test", "small_tests.py"),
    Strategy("engine_per_test", "engine per test + dispose", "small_tests.py"),
    Strategy("create_drop", "create_all/drop_all per test", "small_tests.py"),
    Strategy("clone", "database cloned from a template per test", "small_tests.py"),
    Strategy("peer", "pytest-postgresql postgresql fixture + engine", "small_tests.py"),
]
_BY_KEY = {s.key: s for s in STRATEGIES}
BASELINES = ("baseline", "baseline_session")

# (name, numerator, denominator, bound): numerator/denominator of overheads, PASS when the ratio meets the bound.
TARGETS = [
    ("lab default chain >= 10x cheaper than the peer", "peer", "lab_default", ">=", 10.0),
    ("lab fast path within 3x of the floor", "lab_fast", "floor", "<=", 3.0),
]

# The statements the ORM sends for one test (SQLAlchemy 2.x, asyncpg dialect), for the floor.
_INSERT = "INSERT INTO isobench_note (label) VALUES ($1::VARCHAR) RETURNING isobench_note.id, isobench_note.created_at"
_COUNT = "SELECT count(*) AS count_1 FROM isobench_note WHERE isobench_note.label = $1::VARCHAR"


# ---------------------------------------------------------------- the machine and the server


def machine(admin_url: str) -> dict[str, Any]:
    return {**machine_facts(), "postgresql": str(run_sync(fetchval(admin_url, "SHOW server_version")))}


def _require_extra() -> None:
    import importlib.util

    missing = [m for m in ("pytest_postgresql", "psycopg") if importlib.util.find_spec(m) is None]
    if missing:
        raise LabError(f"bench isolation runs pytest-postgresql as the peer, but {', '.join(missing)} is not "
                       "installed: pip install -e '.[bench]'")


# ---------------------------------------------------------------- the run's databases


class Names(NamedTuple):
    """Every database name of one bench run starts with ``prefix`` and ends in ``_test`` (lesson 01's marker)."""

    prefix: str

    @property
    def schema(self) -> str:
        return f"{self.prefix}_schema_test"

    @property
    def empty(self) -> str:
        return f"{self.prefix}_empty_test"

    @property
    def template(self) -> str:
        return f"{self.prefix}_template_test"

    @property
    def peer(self) -> str:
        return f"{self.prefix}_peer_test"


async def _create_schema(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    sys.path.insert(0, str(SUITE))
    try:
        from isobench_models import Base
    finally:
        sys.path.remove(str(SUITE))
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()


async def _prepare(admin_url: str, names: Names) -> None:
    """The databases the hand-written strategies use; the lab's chain and the peer make their own."""
    for name in (names.schema, names.empty, names.template):
        await databases.create(admin_url, name, replace=True)
    await _create_schema(urls.with_database(admin_url, names.schema))
    await _create_schema(urls.with_database(admin_url, names.template))


async def _cleanup(admin_url: str, prefix: str) -> list[str]:
    """Drop every database of the run, pytest-postgresql's template too (it marks it IS_TEMPLATE)."""
    conn = await connect(admin_url)
    try:
        for name in await databases.names_under(admin_url, prefix):
            await conn.execute(f"ALTER DATABASE {databases.quote(name)} IS_TEMPLATE false")
    finally:
        await conn.close()
    return await databases.drop_under(admin_url, prefix)


# ---------------------------------------------------------------- one run of one strategy


def _env(admin_url: str, names: Names, tests: int, root: Path, times: Path) -> dict[str, str]:
    """A nested pytest's environment: no colour, no outer PYTEST_*, no stray PG* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_ENV)}
    password = urls.asyncpg_kwargs(admin_url).get("password")
    if password:
        env["PGPASSWORD"] = str(password)  # pytest-postgresql's psycopg reads it; kept off the command line
    env.update({
        "PYTHONPATH": str(root),
        "ISOBENCH_TESTS": str(tests), "ISOBENCH_TIMES": str(times), "ISOBENCH_ADMIN_URL": admin_url,
        "ISOBENCH_PREFIX_DEFAULT": f"{names.prefix}_default", "ISOBENCH_PREFIX_FAST": f"{names.prefix}_fast",
        "ISOBENCH_SCHEMA_URL": urls.with_database(admin_url, names.schema),
        "ISOBENCH_EMPTY_URL": urls.with_database(admin_url, names.empty),
        "ISOBENCH_TEMPLATE": names.template, "ISOBENCH_CLONE_PREFIX": f"{names.prefix}_clone",
        "ISOBENCH_PEER_DB": names.peer,
    })
    return env


def _peer_options(admin_url: str) -> list[str]:
    """Where pytest-postgresql finds the server: libpq takes a socket folder as the host."""
    kw = urls.asyncpg_kwargs(admin_url)
    return [f"--postgresql-host={kw['host']}", f"--postgresql-port={kw['port']}",
            f"--postgresql-user={kw.get('user', 'postgres')}",
            f"--postgresql-maintenance-dbname={kw.get('database', 'postgres')}"]


def _project(root: Path, strategy: Strategy) -> Path:
    """Lay out one strategy as a project of its own: shared modules at the root, its folder below."""
    for shared in ("isobench_models.py", "isobench_timing.py"):
        if not (root / shared).exists():
            shutil.copy(SUITE / shared, root / shared)
    folder = root / strategy.key
    if not folder.exists():
        shutil.copytree(SUITE / strategy.key, folder)
        shutil.copy(SUITE / strategy.tests, folder / "test_isolation.py")
    return folder


def _run_pytest(strategy: Strategy, root: Path, admin_url: str, names: Names, tests: int) -> dict[str, Any]:
    folder = _project(root, strategy)
    times = root / f"{strategy.key}.times.json"
    times.unlink(missing_ok=True)
    # hypothesis is in the lab's environment for the lab's own tests, not the suite's: its plugin only adds
    # seconds to every start of pytest (the same for every strategy), so the nested runs leave it out
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
           "-p", "isobench_timing", "-q", "--color=no", "-W", "ignore::DeprecationWarning"]
    if strategy.key == "peer":
        cmd += _peer_options(admin_url)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env=_env(admin_url, names, tests, root, times),
                          capture_output=True, text=True, timeout=1200, check=False)
    wall = time.perf_counter() - started
    data = json.loads(times.read_text(encoding="utf-8")) if times.exists() else {"seconds": {}, "failed": []}
    durations = [1000 * s for s in data["seconds"].values()]
    if proc.returncode != 0 or data["failed"] or len(durations) != tests:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise LabError(f"bench isolation: strategy {strategy.key} did not pass all {tests} tests "
                       f"(exit {proc.returncode}, {len(durations)} timed, {len(data['failed'])} failed):\n{tail}")
    return _run_figures(durations, wall)


async def _floor_statements(conn: Any, n: int) -> None:
    await conn.execute("BEGIN")
    await conn.execute("SAVEPOINT test")
    label = f"note {n}"
    row = await conn.fetchrow(_INSERT, label)
    found = await conn.fetchval(_COUNT, label)
    await conn.execute("ROLLBACK")
    assert found == 1 and row["id"] is not None


async def _floor_loop(url: str, tests: int, warmup: int = 20) -> list[float]:
    """BEGIN, SAVEPOINT, the test's two statements, ROLLBACK, on one open connection; ms per iteration."""
    conn = await connect(url)
    try:
        samples = []
        for n in range(warmup + tests):
            started = time.perf_counter()
            await _floor_statements(conn, n)
            samples.append(1000 * (time.perf_counter() - started))
        return samples[warmup:]
    finally:
        await conn.close()


def _suite_module(name: str) -> Any:
    """A module of the suite (isobench_models, small_tests), imported from SUITE as the strategies import it."""
    import importlib

    sys.path.insert(0, str(SUITE))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(SUITE))


async def _bodies_loop(url: str, tests: int, warmup: int = 20) -> list[float]:
    """Reference, no pytest: small_tests.py's own test function, called in a plain loop on one open pooled
    connection with the lab's isolation (outer transaction, session on a savepoint, both rolled back).

    What is left between this and the floor is SQLAlchemy's (ORM, Core, dialect) cost, not isolation's."""
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    body = _suite_module("small_tests").test_insert_and_read_back
    engine = create_async_engine(url)
    try:
        samples = []
        for n in range(warmup + tests):
            started = time.perf_counter()
            async with engine.connect() as conn:
                outer = await conn.begin()
                async with AsyncSession(bind=conn, join_transaction_mode="create_savepoint",
                                        expire_on_commit=False) as session:
                    await body(session, n)
                await outer.rollback()
            samples.append(1000 * (time.perf_counter() - started))
        return samples[warmup:]
    finally:
        await engine.dispose()


async def _connect_loop(url: str, tests: int, warmup: int = 5) -> list[float]:
    """Reference, no pytest: the floor's statements on a new server connection each time (asyncpg connect,
    the statements, close): the least any strategy with a connection per test pays, the new server process
    and its first statements (prepared afresh, its catalog caches cold) included. ms per iteration."""
    samples = []
    for n in range(warmup + tests):
        started = time.perf_counter()
        conn = await connect(url)
        try:
            await _floor_statements(conn, n)
        finally:
            await conn.close()
        samples.append(1000 * (time.perf_counter() - started))
    return samples[warmup:]


_IN_PROCESS = {"floor": _floor_loop, "ref_bodies": _bodies_loop, "ref_connect": _connect_loop}


def _run_in_process(strategy: Strategy, admin_url: str, names: Names, tests: int) -> dict[str, Any]:
    started = time.perf_counter()
    durations = run_sync(_IN_PROCESS[strategy.key](urls.with_database(admin_url, names.schema), tests))
    return _run_figures(durations, time.perf_counter() - started)


def _run_figures(durations: list[float], wall: float) -> dict[str, Any]:
    ordered = sorted(durations)
    return {"tests": len(durations), "median_ms": statistics.median(durations), "mean_ms": statistics.fmean(durations),
            "p10_ms": ordered[len(ordered) // 10], "p90_ms": ordered[(len(ordered) * 9) // 10], "wall_s": wall}


# ---------------------------------------------------------------- the figures


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per strategy: its runs' medians as samples, their median, min and max, and the overhead per test."""
    out: dict[str, dict[str, Any]] = {}
    for key, rs in runs.items():
        samples = [r["median_ms"] for r in rs]
        out[key] = {"label": _BY_KEY[key].label, "samples_ms": samples, "median_ms": statistics.median(samples),
                    "min_ms": min(samples), "max_ms": max(samples), "runs": rs}
    for key, s in out.items():
        base = _BY_KEY[key].baseline
        s["baseline"] = base or None
        s["overhead_ms"] = 0.0 if key in BASELINES else s["median_ms"] - (out[base]["median_ms"] if base else 0.0)
    return out


def plugin_cost(summary: dict[str, dict[str, Any]]) -> float:
    """What the plugin itself costs a test on the fast path: its median minus the test bodies' (SQLAlchemy
    and the isolation's statements, no pytest) minus pytest's own per-test cost in the session loop."""
    return (summary["lab_fast"]["median_ms"] - summary["ref_bodies"]["median_ms"]
            - summary["baseline_session"]["median_ms"])


def check_targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for name, num, den, op, bound in TARGETS:
        a, b = summary[num]["overhead_ms"], summary[den]["overhead_ms"]
        ratio = a / b if b > 0 else float("inf")
        ok = ratio >= bound if op == ">=" else ratio <= bound
        results.append({"target": name, "ratio": ratio, "bound": f"{op} {bound:g}", "numerator": num,
                        "denominator": den, "passed": ok})
    return results


def table(summary: dict[str, dict[str, Any]], targets: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'strategy':<54} {'median':>9} {'min':>8} {'max':>8} {'overhead':>9} {'x floor':>8}",
             f"{'':<54} {'ms/test':>9} {'':>8} {'':>8} {'ms/test':>9} {'':>8}"]
    floor = summary["floor"]["overhead_ms"]
    for key, s in summary.items():
        rel = "" if key in BASELINES else f"{s['overhead_ms'] / floor:7.1f}x"
        lines.append(f"{s['label']:<54} {s['median_ms']:9.2f} {s['min_ms']:8.2f} {s['max_ms']:8.2f} "
                     f"{s['overhead_ms']:9.2f} {rel:>8}")
    lines.append(f"overhead = median minus the no-DB baseline of the same loop scope (a new loop per test: "
                 f"{summary['baseline']['median_ms']:.2f} ms; the fast path's session loop: "
                 f"{summary['baseline_session']['median_ms']:.2f} ms); the floor and the references have no "
                 "pytest, so their overhead is their own time")
    lines.append(f"the plugin's own cost per test: lab fast path {summary['lab_fast']['median_ms']:.2f} - test bodies "
                 f"{summary['ref_bodies']['median_ms']:.2f} - no-DB baseline, session loop "
                 f"{summary['baseline_session']['median_ms']:.2f} = {plugin_cost(summary):.2f} ms")
    for t in targets:
        lines.append(f"{'PASS' if t['passed'] else 'FAIL'}: {t['target']}: {t['numerator']} / {t['denominator']} "
                     f"overhead = {t['ratio']:.1f}x (target {t['bound']})")
    return lines


def chart(summary: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Horizontal bars of overhead per test on a log scale, with the case file's 2 s as a reference line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in summary if k not in BASELINES]
    values = [max(summary[k]["overhead_ms"], 0.01) for k in keys]  # a log axis has no room for 0 or less
    colours = ["#55a868" if k.startswith("lab_") else "#c44e52" if k == "peer" else
               "#8c8c8c" if not _BY_KEY[k].tests else "#4c72b0" for k in keys]
    fig, ax = plt.subplots(figsize=(9.5, 5.2))
    # the whiskers: the spread over rounds (min and max of the runs' medians), each minus the same baseline
    spread = [[min(summary[k]["median_ms"] - summary[k]["min_ms"], 0.95 * v) for k, v in zip(keys, values, strict=True)],
              [summary[k]["max_ms"] - summary[k]["median_ms"] for k in keys]]
    bars = ax.barh([summary[k]["label"] for k in keys], values, color=colours, xerr=spread,
                   error_kw={"ecolor": "black", "elinewidth": 0.8, "capsize": 2})
    for bar, key, high in zip(bars, keys, spread[1], strict=True):
        ax.text((bar.get_width() + high) * 1.08, bar.get_y() + bar.get_height() / 2,
                f"{summary[key]['overhead_ms']:.2f} ms", va="center", fontsize=8)
    ax.axvline(CASE_FILE_MS, color="black", linestyle="--", linewidth=1)
    ax.text(CASE_FILE_MS * 1.15, (len(keys) - 1) / 2, "case file 003's planned ~2 s per test", rotation=90,
            ha="left", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(values) / 2, CASE_FILE_MS * 3)
    ax.invert_yaxis()
    ax.set_xlabel("overhead per test, ms, log scale: median minus the no-DB baseline of its loop\n"
                  "scope; whiskers: min and max over the rounds", fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- the benchmark


def _rounds(admin_url: str, names: Names, tests: int, rounds: int,
            report: Callable[[str], None]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in STRATEGIES}
    with tempfile.TemporaryDirectory(prefix="lab-isobench-") as tmp:
        root = Path(tmp)
        for r in range(rounds):
            order = STRATEGIES[r % len(STRATEGIES):] + STRATEGIES[:r % len(STRATEGIES)]
            for strategy in order:
                if not strategy.tests:
                    figures = _run_in_process(strategy, admin_url, names, tests)
                else:
                    figures = _run_pytest(strategy, root, admin_url, names, tests)
                runs[strategy.key].append(figures)
                report(f"  round {r + 1}/{rounds}  {strategy.key:<16} {figures['median_ms']:8.2f} ms/test (median of "
                       f"{figures['tests']}; p10-p90 {figures['p10_ms']:.2f}-{figures['p90_ms']:.2f})  "
                       f"run {figures['wall_s']:.1f} s")
    return runs


def bench_isolation(quick: bool = False, out: Path = Path("build/bench"), *,
                    report: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every strategy on the lab's server, print the table and PASS/FAIL lines, write JSON and a chart.

    ``quick``: 50 tests, one round (checks that everything works; figures are noisier).
    Otherwise 200 tests, three rounds. Returns what it writes to ``out/results.json``.
    """
    _require_extra()
    tests, rounds = (50, 1) if quick else (200, 3)
    started = time.perf_counter()
    load_at_start = machine_facts()["load_average_1_5_15_min"]
    with server.ensure() as info:
        admin_url = info.url
        names = Names(f"isobench_{secrets.token_hex(3)}")
        report(f"isolation: {tests} tests x {len(STRATEGIES)} strategies x {rounds} round(s) on "
               f"{urls.describe(admin_url)} ({info.source}); databases {names.prefix}_*")
        try:
            run_sync(_prepare(admin_url, names))
            runs = _rounds(admin_url, names, tests, rounds, report)
            about = {**machine(admin_url), "load_average_at_start": load_at_start}
        finally:
            run_sync(_cleanup(admin_url, names.prefix))
    summary = summarise(runs)
    targets = check_targets(summary)
    for line in table(summary, targets):
        report(line)
    result = {
        "benchmark": "isolation", "quick": quick, "tests": tests, "rounds": rounds, "machine": about,
        "server": urls.describe(admin_url), "databases_prefix": names.prefix,
        "method": ("per test: pytest's setup + call + teardown (isobench_timing plugin, unrounded JUnit figure); "
                   "per run: median over its tests; per strategy: median, min, max over runs; overhead: minus "
                   "the median of the no-DB baseline of the same loop scope (its 'baseline' key; floor and "
                   "references: no pytest, their own time)"),
        "strategies": summary, "plugin_own_cost_ms": plugin_cost(summary), "targets": targets, "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(out)
    merge_results(out, result)  # the other parts' keys (parallel, lab, server_timings) stay
    load = "/".join(f"{x:.1f}" for x in about["load_average_1_5_15_min"][:1] + load_at_start[:1])
    title = (f"{tests} small DB tests, {rounds} interleaved round(s); {about['cores']} cores, "
             f"PostgreSQL {about['postgresql']};\nload average {load or '?'} (1 minute, end/start)")
    chart(summary, out / "isolation.png", title)
    report(f"wrote {out / 'results.json'} and {out / 'isolation.png'} in {result['seconds']:.0f} s")
    return result
