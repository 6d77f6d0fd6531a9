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
run without pytest (loops in this process), so their overhead is their own time per iteration.

The rows the others are measured against take more samples, so that they hold still: the loops without
pytest take 2,000 statement groups a round, in slices between the pytest runs of that round (each slice
after a warm-up), and the no-DB baselines run 2,000 tests. Every row prints its spread, min-max over the
rounds as a percentage of its median, and a ratio between two rows whose min-max ranges overlap is marked
"within noise". The plugin's own cost per test is computed per round from rows measured side by side (the
fast path minus the test bodies in a plain loop minus the session-loop baseline), its median reported.
Speed never sets the exit status: each target prints PASS or MISS with its figures.

A second look at the plugin's own cost, ``lab_paired``: one pytest run of the fast path in which each
lab test alternates with the same test doing the chain's isolation in its own body (on the chain's own
engine), the figure the median over n of the lab test minus its by-hand twin. Both kinds run between
pytest's tests, where a body runs with caches that pytest's own work between tests has cooled, which the
plain loop of the test bodies does not see; so this is what the plugin's fixtures add to a test that does
the same work, and the formula above is that plus the body's cost of running between pytest's tests.
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

from ..noise import overlap
from .results import machine_facts, merge_results

__all__ = ["Strategy", "STRATEGIES", "Plan", "Target", "TARGETS", "CASE_FILE_MS", "STEADY_PCT", "PAIRED", "bench_isolation",
           "summarise", "spread_pct", "own_cost", "paired_differences", "check_targets", "table"]

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
    Strategy("lab_paired", "the plugin's own cost, paired (a lab test - its by-hand twin, one run)",
             "paired_tests.py", ""),
    Strategy("nullpool", "NullPool engine, connection per test", "small_tests.py"),
    Strategy("engine_per_test", "engine per test + dispose", "small_tests.py"),
    Strategy("create_drop", "create_all/drop_all per test", "small_tests.py"),
    Strategy("clone", "database cloned from a template per test", "small_tests.py"),
    Strategy("peer", "pytest-postgresql postgresql fixture + engine", "small_tests.py"),
]
_BY_KEY = {s.key: s for s in STRATEGIES}
BASELINES = ("baseline", "baseline_session")

IN_PROCESS = tuple(s.key for s in STRATEGIES if not s.tests)  # the loops without pytest
PAIRED = "lab_paired"  # its run's figure is the median of per-test differences (lab test - by-hand test, same n)
_BY_HAND = "::test_in_its_body["
OWN_COST = "own_cost"  # the derived row: lab_fast - ref_bodies - baseline_session, round by round
OWN_COST_LABEL = "the plugin's own cost (fast path - bodies - session-loop baseline)"
WITHIN_NOISE = "within noise"
STEADY_PCT = 20.0  # the floor's and the baselines' spread over rounds, as % of the median, on a quiet machine


class Plan(NamedTuple):
    """How much one bench run measures."""

    tests: int  # tests per run of a pytest strategy
    rounds: int
    loop_samples: int  # statement groups per round for each loop without pytest (floor, references)
    baseline_tests: int  # tests per run of a no-DB baseline

    @classmethod
    def make(cls, quick: bool) -> Plan:
        return cls(50, 1, 200, 200) if quick else cls(200, 3, 2000, 2000)


class Target(NamedTuple):
    """``numerator`` (a row's key, or OWN_COST) per test, against ``denominator``'s (a ratio) or, when
    ``denominator`` is empty, against ``bound`` in ms; PASS when the figure meets ``op bound``."""

    name: str
    numerator: str
    denominator: str
    op: str
    bound: float


TARGETS = [
    Target("the plugin's own cost per test", OWN_COST, "", "<=", 0.3),
    Target("pytest-postgresql per test vs the lab fast path", "peer", "lab_fast", ">=", 15.0),
    Target("the lab default chain per test vs a hand-written NullPool chain", "lab_default", "nullpool", "<=", 1.1),
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
        "ISOBENCH_PREFIX_PAIRED": f"{names.prefix}_paired",
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
    for shared in ("isobench_models.py", "isobench_timing.py", "small_tests.py"):
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
    durations = (paired_differences(data["seconds"]) if strategy.key == PAIRED
                 else [1000 * s for s in data["seconds"].values()])
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


_LOOPS = {"floor": _floor_loop, "ref_bodies": _bodies_loop, "ref_connect": _connect_loop}


def _loop_slice(key: str, admin_url: str, names: Names, samples: int) -> tuple[list[float], float]:
    """One slice of a loop without pytest (after its own warm-up): ms per statement group, and wall seconds."""
    started = time.perf_counter()
    durations = run_sync(_LOOPS[key](urls.with_database(admin_url, names.schema), samples))
    return durations, time.perf_counter() - started


def paired_differences(seconds: dict[str, float]) -> list[float]:
    """lab_paired's run: for each n, the lab test's ms minus the by-hand test's ms (``test_in_its_body``)."""
    by_hand = {nodeid.replace(_BY_HAND, "::test_insert_and_read_back["): 1000 * s
               for nodeid, s in seconds.items() if _BY_HAND in nodeid}
    return [1000 * s - by_hand[nodeid] for nodeid, s in seconds.items() if nodeid in by_hand]


def _run_figures(durations: list[float], wall: float) -> dict[str, Any]:
    ordered = sorted(durations)
    return {"tests": len(durations), "median_ms": statistics.median(durations), "mean_ms": statistics.fmean(durations),
            "p10_ms": ordered[len(ordered) // 10], "p90_ms": ordered[(len(ordered) * 9) // 10], "wall_s": wall}


# ---------------------------------------------------------------- the figures


def spread_pct(samples: list[float]) -> float | None:
    """Min-max of the samples as a percentage of their median; None when the median is not above zero."""
    middle = statistics.median(samples)
    return 100 * (max(samples) - min(samples)) / middle if middle > 0 else None


def _row(label: str, samples: list[float]) -> dict[str, Any]:
    return {"label": label, "samples_ms": samples, "median_ms": statistics.median(samples),
            "min_ms": min(samples), "max_ms": max(samples), "spread_pct": spread_pct(samples)}


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per strategy: its runs' medians as samples (one a round, in round order), their median, min, max and
    spread, and the overhead per test."""
    out: dict[str, dict[str, Any]] = {}
    for key, rs in runs.items():
        out[key] = {**_row(_BY_KEY[key].label, [r["median_ms"] for r in rs]), "runs": rs}
    for key, s in out.items():
        base = _BY_KEY[key].baseline
        s["baseline"] = base or None
        s["overhead_ms"] = 0.0 if key in BASELINES else s["median_ms"] - (out[base]["median_ms"] if base else 0.0)
    return out


def own_cost(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the plugin itself costs per test, round by round: the fast path minus the same test bodies in a
    plain loop (SQLAlchemy and the isolation statements) minus pytest's own per-test cost in the session loop
    (the no-DB session-loop baseline). Each round's three rows ran side by side; the median is the figure."""
    rounds = zip(summary["lab_fast"]["samples_ms"], summary["ref_bodies"]["samples_ms"],
                 summary["baseline_session"]["samples_ms"], strict=True)
    return {**_row(OWN_COST_LABEL, [fast - bodies - base for fast, bodies, base in rounds]),
            "formula": "lab_fast - ref_bodies - baseline_session, per round"}


def _verdict(figure: float, op: str, bound: float) -> bool:
    return figure >= bound if op == ">=" else figure <= bound


def _check(target: Target, rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    num = rows[target.numerator]
    result: dict[str, Any] = {"target": target.name, "numerator": target.numerator,
                              "denominator": target.denominator or None, "bound": f"{target.op} {target.bound:g}"}
    if target.denominator:
        den = rows[target.denominator]
        figure = num["median_ms"] / den["median_ms"] if den["median_ms"] > 0 else float("inf")
        noisy = overlap(num["samples_ms"], den["samples_ms"])  # the two rows' spreads overlap
        shown = f"{figure:.2f}x ({num['median_ms']:.2f} / {den['median_ms']:.2f} ms per test)"
    else:
        figure = num["median_ms"]
        noisy = overlap(num["samples_ms"], [target.bound])  # the bound lies within the row's spread
        shown = f"{figure:.2f} ms (min-max {num['min_ms']:.2f}-{num['max_ms']:.2f})"
    unit = "x" if target.denominator else " ms"
    line = (f"{target.name} {target.op} {target.bound:g}{unit}: {shown}" + (f", {WITHIN_NOISE}" if noisy else ""))
    return {**result, "figure": figure, "within_noise": noisy, "passed": _verdict(figure, target.op, target.bound),
            "line": line}


def _steadiness(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The rows others are measured against: their spread over rounds at most STEADY_PCT % of the median
    (not judged, ``passed`` None, after one round)."""
    keys = ("floor", *BASELINES)
    spreads = {k: summary[k]["spread_pct"] for k in keys}
    shown = ", ".join(f"{k} {'?' if v is None else f'{v:.0f} %'}" for k, v in spreads.items())
    rounds = len(summary["floor"]["samples_ms"])
    line = (f"the floor's and the no-DB baselines' spread over rounds <= {STEADY_PCT:g} % of the median: {shown}"
            + (" (one round: no spread to judge)" if rounds < 2 else ""))
    passed = None if rounds < 2 else all(v is not None and v <= STEADY_PCT for v in spreads.values())
    return {"target": "steady floor and baselines", "numerator": "floor", "denominator": None,
            "bound": f"<= {STEADY_PCT:g} %", "figure": max((v for v in spreads.values() if v is not None), default=None),
            "spreads_pct": spreads, "within_noise": False, "passed": passed, "line": line}


def check_targets(summary: dict[str, dict[str, Any]], own: dict[str, Any]) -> list[dict[str, Any]]:
    """Every TARGETS entry, then the floor's and baselines' steadiness; each with its figure, verdict and line."""
    rows = {**summary, OWN_COST: own}
    return [_check(t, rows) for t in TARGETS] + [_steadiness(summary)]


_VERDICTS = {True: "PASS", False: "MISS", None: "n/a"}  # None: nothing to judge it by (one round's spread)


def _spread_cell(s: dict[str, Any]) -> str:
    return "?" if s["spread_pct"] is None else f"{s['spread_pct']:.0f} %"


def table(summary: dict[str, dict[str, Any]], own: dict[str, Any], targets: list[dict[str, Any]]) -> list[str]:
    """The rows, the plugin's own cost, how overhead is reckoned, and a PASS or MISS line per target."""
    lines = [f"{'strategy':<66} {'median':>8} {'min':>7} {'max':>7} {'spread':>7} {'overhead':>9} {'x floor':>8}",
             f"{'':<66} {'ms/test':>8} {'':>7} {'':>7} {'min-max':>7} {'ms/test':>9} {'':>8}"]
    floor = summary["floor"]
    for key, s in [*summary.items(), (OWN_COST, {**own, "overhead_ms": own["median_ms"]})]:
        apart = key in (*BASELINES, PAIRED)  # the baselines, and a difference: nothing to hold against the floor
        rel = "" if apart or floor["overhead_ms"] <= 0 else f"{s['overhead_ms'] / floor['overhead_ms']:7.1f}x"
        noisy = not apart and key != "floor" and overlap(s["samples_ms"], floor["samples_ms"])
        lines.append(f"{s['label']:<66} {s['median_ms']:8.2f} {s['min_ms']:7.2f} {s['max_ms']:7.2f} "
                     f"{_spread_cell(s):>7} {s['overhead_ms']:9.2f} {rel:>8}" + (f"  {WITHIN_NOISE}" if noisy else ""))
    lines.append(f"overhead = median minus the no-DB baseline of the same loop scope (a new loop per test: "
                 f"{summary['baseline']['median_ms']:.2f} ms; the fast path's session loop: "
                 f"{summary['baseline_session']['median_ms']:.2f} ms); the floor and the references have no "
                 "pytest, so their overhead is their own time")
    lines.append(f"spread = (max - min) / median over the rounds; '{WITHIN_NOISE}': the row's min-max overlaps the "
                 "floor's, or for a target, the two rows' min-max ranges overlap (or the bound lies within the row's)")
    for t in targets:
        lines.append(f"{_VERDICTS[t['passed']]}: {t['line']}")
    return lines


def chart(summary: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """Horizontal bars of overhead per test on a log scale, with the case file's 2 s as a reference line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in summary if k not in (*BASELINES, PAIRED)]  # strategies; the paired row is a difference
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


def _slices(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` sizes that differ by at most one, the larger first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _round(r: int, plan: Plan, root: Path, admin_url: str, names: Names,
           report: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """One round: every pytest strategy once, in an order rotated by the round, and after each of them a slice
    of every loop without pytest (their order rotated by the slice), so those loops sample the whole round."""
    in_pytest = [s for s in STRATEGIES if s.tests]
    shift = r % len(in_pytest)
    figures: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[float]] = {k: [] for k in IN_PROCESS}
    walls = dict.fromkeys(IN_PROCESS, 0.0)
    for i, (strategy, size) in enumerate(zip(in_pytest[shift:] + in_pytest[:shift],
                                             _slices(plan.loop_samples, len(in_pytest)), strict=True)):
        tests = plan.baseline_tests if strategy.key in BASELINES else plan.tests
        figures[strategy.key] = got = _run_pytest(strategy, root, admin_url, names, tests)
        report(f"  round {r + 1}/{plan.rounds}  {strategy.key:<16} {got['median_ms']:8.2f} ms/test (median of "
               f"{got['tests']}; p10-p90 {got['p10_ms']:.2f}-{got['p90_ms']:.2f})  run {got['wall_s']:.1f} s")
        for key in IN_PROCESS[i % len(IN_PROCESS):] + IN_PROCESS[:i % len(IN_PROCESS)]:
            durations, wall = _loop_slice(key, admin_url, names, size)
            samples[key] += durations
            walls[key] += wall
    for key in IN_PROCESS:
        figures[key] = got = _run_figures(samples[key], walls[key])
        report(f"  round {r + 1}/{plan.rounds}  {key:<16} {got['median_ms']:8.2f} ms/test (median of {got['tests']} "
               f"in {len(in_pytest)} slices; p10-p90 {got['p10_ms']:.2f}-{got['p90_ms']:.2f})  "
               f"loops {got['wall_s']:.1f} s")
    return figures


def _rounds(admin_url: str, names: Names, plan: Plan,
            report: Callable[[str], None]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in STRATEGIES}
    with tempfile.TemporaryDirectory(prefix="lab-isobench-") as tmp:
        for r in range(plan.rounds):
            for key, figures in _round(r, plan, Path(tmp), admin_url, names, report).items():
                runs[key].append(figures)
    return runs


def _machine_line(facts: dict[str, Any]) -> str:
    load = "/".join(f"{x:.2f}" for x in facts["load_average_1_5_15_min"]) or "?"
    return (f"machine: {facts['cores']} cores, {facts['cpu']}, load average at start {load} (1/5/15 min); "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def bench_isolation(quick: bool = False, out: Path = Path("build/bench"), *,
                    report: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every strategy on the lab's server, print the table and PASS/MISS lines, write JSON and a chart.

    ``quick``: 50 tests, one round, 200 groups for the loops and 200 tests for the baselines (checks that
    everything works; figures are noisier and have no spread). Otherwise 200 tests, three rounds, 2,000
    groups and 2,000 baseline tests (``Plan``). Returns what it writes to ``out/results.json``; a missed
    target is a finding, printed as MISS, never an exception.
    """
    _require_extra()
    plan = Plan.make(quick)
    started = time.perf_counter()
    facts = machine_facts()
    load_at_start = facts["load_average_1_5_15_min"]
    report(_machine_line(facts))
    with server.ensure() as info:
        admin_url = info.url
        names = Names(f"isobench_{secrets.token_hex(3)}")
        report(f"isolation: {plan.tests} tests x {len(STRATEGIES)} strategies x {plan.rounds} round(s) on "
               f"{urls.describe(admin_url)} ({info.source}); no-DB baselines {plan.baseline_tests} tests, loops "
               f"without pytest {plan.loop_samples} groups a round; databases {names.prefix}_*")
        try:
            run_sync(_prepare(admin_url, names))
            runs = _rounds(admin_url, names, plan, report)
            about = {**machine(admin_url), "load_average_at_start": load_at_start}
        finally:
            run_sync(_cleanup(admin_url, names.prefix))
    summary = summarise(runs)
    own = own_cost(summary)
    targets = check_targets(summary, own)
    for line in table(summary, own, targets):
        report(line)
    result = {
        "benchmark": "isolation", "quick": quick, "tests": plan.tests, "rounds": plan.rounds,
        "loop_samples": plan.loop_samples, "baseline_tests": plan.baseline_tests, "machine": about,
        "server": urls.describe(admin_url), "databases_prefix": names.prefix,
        "method": ("per test: pytest's setup + call + teardown (isobench_timing plugin, unrounded JUnit figure); "
                   "per run: median over its tests; the loops without pytest: median over the round's groups, "
                   "taken in slices between the pytest runs; per strategy: median, min, max over rounds, spread "
                   "(max - min) / median; overhead: minus the median of the no-DB baseline of the same loop scope "
                   "(its 'baseline' key; floor and references: no pytest, their own time); own_cost: lab_fast - "
                   "ref_bodies - baseline_session per round, its median"),
        "strategies": summary, "own_cost": own, "targets": targets,
        "seconds": round(time.perf_counter() - started, 1),
    }
    out = Path(out)
    merge_results(out, result)  # the other parts' keys (parallel, lab, server_timings) stay
    load = "/".join(f"{x:.1f}" for x in about["load_average_1_5_15_min"][:1] + load_at_start[:1])
    title = (f"{plan.tests} small DB tests, {plan.rounds} interleaved round(s); {about['cores']} cores, "
             f"PostgreSQL {about['postgresql']};\nload average {load or '?'} (1 minute, end/start)")
    chart(summary, out / "isolation.png", title)
    report(f"wrote {out / 'results.json'} and {out / 'isolation.png'} in {result['seconds']:.0f} s")
    return result
