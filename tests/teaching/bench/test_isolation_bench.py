"""``labsupport bench isolation``: its figures reckoned from synthetic rounds (spread, "within noise", the
plugin's own cost, the target lines), and ``--quick`` for real on the lab's server: what it prints and
writes, never speed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labsupport.connection import run_sync
from labsupport.databases import names_under
from labsupport.teaching.bench.isolation import (
    STRATEGIES,
    TARGETS,
    Plan,
    _slices,
    bench_isolation,
    check_targets,
    own_cost,
    paired_differences,
    spread_pct,
    summarise,
    table,
)

IN_PYTEST = [s.key for s in STRATEGIES if s.tests]
WITHOUT_PYTEST = [s.key for s in STRATEGIES if not s.tests]

# Three rounds of per-test medians (ms), shaped like a real run's; each test overrides the rows it is about.
ROUNDS = {
    "baseline": [0.57, 0.52, 0.58], "baseline_session": [0.40, 0.39, 0.40], "floor": [0.11, 0.12, 0.11],
    "ref_bodies": [2.00, 2.40, 2.00], "ref_connect": [3.96, 3.81, 3.99], "lab_default": [7.05, 7.30, 6.99],
    "lab_fast": [3.00, 3.50, 3.20], "lab_paired": [0.05, 0.08, 0.04], "nullpool": [7.33, 6.94, 7.52], "engine_per_test": [9.76, 9.48, 10.18],
    "create_drop": [18.95, 18.53, 19.00], "clone": [25.73, 22.97, 28.21], "peer": [40.0, 41.0, 39.0],
}


def _summary(**rows: list[float]) -> dict[str, dict[str, Any]]:
    runs = {key: [{"median_ms": ms} for ms in rows.get(key, ROUNDS[key])] for key in ROUNDS}
    return summarise(runs)


def _verdicts(summary: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["numerator"]: t for t in check_targets(summary, own_cost(summary))}


def test_spread_is_min_to_max_as_a_percentage_of_the_median() -> None:
    assert spread_pct([9.0, 10.0, 12.0]) == pytest.approx(30.0)
    assert spread_pct([0.11, 0.40, 0.20]) == pytest.approx(145.0)
    assert spread_pct([5.0]) == 0.0
    assert spread_pct([-0.1, 0.0, 0.1]) is None  # no median to be a percentage of
    assert _summary()["nullpool"]["spread_pct"] == pytest.approx(100 * (7.52 - 6.94) / 7.33)


def test_own_cost_is_reckoned_round_by_round_and_its_median_reported() -> None:
    own = own_cost(_summary())
    assert own["samples_ms"] == pytest.approx([3.00 - 2.00 - 0.40, 3.50 - 2.40 - 0.39, 3.20 - 2.00 - 0.40])
    assert own["median_ms"] == pytest.approx(0.71)  # not 3.20 - 2.00 - 0.40, the difference of the medians
    assert (own["min_ms"], own["max_ms"]) == pytest.approx((0.60, 0.80))


def test_targets_print_pass_or_miss_with_their_figures() -> None:
    verdicts = _verdicts(_summary())
    assert [t.numerator for t in TARGETS] == ["own_cost", "peer", "lab_default"]
    assert not verdicts["own_cost"]["passed"] and verdicts["own_cost"]["figure"] == pytest.approx(0.71)
    peer = verdicts["peer"]  # 40.0 / 3.20 = 12.5x, under 15x
    assert not peer["passed"] and peer["figure"] == pytest.approx(12.5) and not peer["within_noise"]
    assert "12.50x (40.00 / 3.20 ms per test)" in peer["line"]
    lines = table(_summary(), own_cost(_summary()), check_targets(_summary(), own_cost(_summary())))
    verdict_lines = [line for line in lines if line.startswith(("PASS: ", "MISS: "))]
    assert len(verdict_lines) == len(TARGETS) + 1  # and the floor's steadiness
    assert verdict_lines[0] == "MISS: the plugin's own cost per test <= 0.3 ms: 0.71 ms (min-max 0.60-0.80)"
    faster = _verdicts(_summary(lab_fast=[2.60, 2.80, 2.60]))
    assert faster["peer"]["passed"] and faster["own_cost"]["passed"]  # 40 / 2.6 = 15.4x; 0.2 ms


def test_a_ratio_whose_rows_spreads_overlap_is_marked_within_noise() -> None:
    default = _verdicts(_summary())["lab_default"]  # 7.05 / 7.33, the ranges 6.99-7.30 and 6.94-7.52 overlap
    assert default["passed"] and default["within_noise"] and default["line"].endswith(", within noise")
    apart = _verdicts(_summary(lab_default=[8.5, 8.4, 8.6]))["lab_default"]
    assert not apart["passed"] and not apart["within_noise"] and "within noise" not in apart["line"]
    straddling = _verdicts(_summary(lab_fast=[2.60, 3.00, 2.75]))["own_cost"]  # 0.20, 0.21, 0.35 around 0.3
    assert straddling["passed"] and straddling["within_noise"]


def test_the_table_shows_every_rows_spread_and_the_own_cost_row() -> None:
    summary = _summary(ref_connect=[0.10, 0.13, 0.12])
    lines = table(summary, own_cost(summary), check_targets(summary, own_cost(summary)))
    rows = {line.split("  ")[0]: line for line in lines}
    assert rows["NullPool engine, connection per test"].split()[-5:-1] == ["7.52", "8", "%", "6.76"]  # max, spread
    assert rows["floor: raw asyncpg loop, no pytest"].split()[-5:] == ["0.12", "9", "%", "0.11", "1.0x"]
    own_row = next(line for line in lines if line.startswith("the plugin's own cost (fast path"))
    paired_row = next(line for line in lines if line.startswith("the plugin's own cost, paired"))
    assert paired_row.split()[-6:] == ["0.05", "0.04", "0.08", "80", "%", "0.05"]  # a difference: no "x floor"
    assert own_row.split()[-7:] == ["0.71", "0.60", "0.80", "28", "%", "0.71", "6.5x"]  # 0.71 / 0.11 the floor
    noisy = [line for line in lines[2:2 + len(STRATEGIES)] if line.endswith("within noise")]
    assert [line.split("  ")[0] for line in noisy] == ["reference: floor on a new connection each, no pytest"]


def test_the_paired_run_s_figure_is_each_lab_test_minus_its_by_hand_twin() -> None:
    seconds = {"t.py::test_insert_and_read_back[0]": 0.0031, "t.py::test_in_its_body[0]": 0.0030,
               "t.py::test_insert_and_read_back[1]": 0.0028, "t.py::test_in_its_body[1]": 0.0029,
               "t.py::test_insert_and_read_back[2]": 0.0035}  # no twin: not counted
    assert paired_differences(seconds) == pytest.approx([0.1, -0.1])


def test_the_floor_and_baselines_steadiness_is_judged_by_their_spread() -> None:
    steady = check_targets(_summary(), own_cost(_summary()))[-1]
    assert steady["passed"] and steady["spreads_pct"]["baseline"] == pytest.approx(100 * 0.06 / 0.57)
    assert steady["line"].endswith("floor 9 %, baseline 11 %, baseline_session 3 %")
    moving = check_targets(_summary(floor=[0.11, 0.40, 0.20]), own_cost(_summary()))[-1]
    assert not moving["passed"] and "floor 145 %" in moving["line"]
    one = summarise({key: [{"median_ms": v[0]}] for key, v in ROUNDS.items()})
    one_round = table(one, own_cost(one), check_targets(one, own_cost(one)))[-1]
    assert one_round.startswith("n/a: ") and one_round.endswith("(one round: no spread to judge)")


def test_the_loops_without_pytest_sample_the_whole_round_in_slices() -> None:
    full = Plan.make(quick=False)
    assert (full.loop_samples, full.baseline_tests, full.rounds) == (2000, 2000, 3)
    sizes = _slices(full.loop_samples, len(IN_PYTEST))
    assert len(sizes) == len(IN_PYTEST) and sum(sizes) == 2000 and max(sizes) - min(sizes) <= 1
    assert _slices(200, 9) == [23, 23, 22, 22, 22, 22, 22, 22, 22]


# Needs the bench extra (pytest-postgresql, the peer): `make test-slow` installs it and runs this.
@pytest.mark.slow
def test_quick_isolation_bench_measures_every_strategy(lab_server, tmp_path: Path, timing_alone: None) -> None:
    lines: list[str] = []
    result = bench_isolation(quick=True, out=tmp_path, report=lines.append)

    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["strategies"].keys() == {s.key for s in STRATEGIES}
    assert written["quick"] and written["tests"] == 50 and written["rounds"] == 1
    for key, figures in written["strategies"].items():
        assert key == "lab_paired" or figures["median_ms"] > 0, key  # the paired row is a difference
        assert figures["min_ms"] <= figures["median_ms"] <= figures["max_ms"], key
        assert figures["samples_ms"] == [figures["median_ms"]], key
        assert figures["spread_pct"] == (0.0 if figures["median_ms"] > 0 else None), key  # none of a difference <= 0
        assert "overhead_ms" in figures, key
    strategies = written["strategies"]
    for key in ("baseline", "baseline_session", *WITHOUT_PYTEST):  # the rows others are measured against
        assert strategies[key]["runs"][0]["tests"] == 200, key
    for key in set(IN_PYTEST) - {"baseline", "baseline_session"}:
        assert strategies[key]["runs"][0]["tests"] == 50, key
    assert strategies["lab_fast"]["baseline"] == "baseline_session"  # its own loop scope's no-DB baseline
    assert strategies["lab_default"]["baseline"] == strategies["peer"]["baseline"] == "baseline"
    fast = strategies["lab_fast"]
    assert fast["overhead_ms"] == fast["median_ms"] - strategies["baseline_session"]["median_ms"]
    for key in WITHOUT_PYTEST:  # no pytest: their own time
        assert strategies[key]["baseline"] is None and strategies[key]["overhead_ms"] == strategies[key]["median_ms"]
    own = written["own_cost"]
    assert own["median_ms"] == pytest.approx(fast["median_ms"] - strategies["ref_bodies"]["median_ms"]
                                             - strategies["baseline_session"]["median_ms"])
    assert len(written["machine"]["load_average_at_start"]) == 3
    assert written["machine"]["cores"] >= 1 and written["machine"]["postgresql"] and written["machine"]["python"]
    assert [t["numerator"] for t in written["targets"]] == ["own_cost", "peer", "lab_default", "floor"]
    assert (tmp_path / "isolation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["strategies"].keys() == written["strategies"].keys()

    assert lines[0].startswith("machine: ") and "load average at start" in lines[0]
    progress = [line for line in lines if line.startswith("  round 1/1")]
    assert [line.split()[2] for line in progress] == IN_PYTEST + WITHOUT_PYTEST  # one line per run, as it goes
    assert all(line.split()[3] != "0.00" for line in progress)
    assert any(line.startswith("the plugin's own cost") for line in lines)
    verdicts = [line for line in lines if line.startswith(("PASS: ", "MISS: ", "n/a: "))]
    assert [line.split(": ")[1].split(" <= ")[0].split(" >= ")[0] for line in verdicts] == [
        t.name for t in TARGETS] + ["the floor's and the no-DB baselines' spread over rounds"]
    assert verdicts[-1].startswith("n/a: ")  # one round has no spread to judge the floor by
    assert run_sync(names_under(lab_server.url, written["databases_prefix"])) == []  # nothing left behind
