"""``labsupport bench isolation --quick`` for real on the lab's server: what it prints and writes, never speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labsupport.connection import run_sync
from labsupport.databases import names_under
from labsupport.teaching.bench.isolation import STRATEGIES, bench_isolation

# Needs the bench extra (pytest-postgresql, the peer): `make test-slow` installs it and runs this.
pytestmark = pytest.mark.slow


def test_quick_isolation_bench_measures_every_strategy(lab_server, tmp_path: Path, timing_alone: None) -> None:
    lines: list[str] = []
    result = bench_isolation(quick=True, out=tmp_path, report=lines.append)

    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["strategies"].keys() == {s.key for s in STRATEGIES}
    assert written["quick"] and written["tests"] == 50 and written["rounds"] == 1
    for key, figures in written["strategies"].items():
        assert figures["median_ms"] > 0 and figures["min_ms"] <= figures["median_ms"] <= figures["max_ms"], key
        assert figures["samples_ms"] == [figures["median_ms"]] and figures["runs"][0]["tests"] == 50, key
        assert "overhead_ms" in figures, key
    strategies = written["strategies"]
    assert strategies["lab_fast"]["baseline"] == "baseline_session"  # its own loop scope's no-DB baseline
    assert strategies["lab_default"]["baseline"] == strategies["peer"]["baseline"] == "baseline"
    fast = strategies["lab_fast"]
    assert fast["overhead_ms"] == fast["median_ms"] - strategies["baseline_session"]["median_ms"]
    for key in ("floor", "ref_bodies", "ref_connect"):  # no pytest: their own time
        assert strategies[key]["baseline"] is None and strategies[key]["overhead_ms"] == strategies[key]["median_ms"]
    assert len(written["machine"]["load_average_at_start"]) == 3
    assert written["machine"]["cores"] >= 1 and written["machine"]["postgresql"] and written["machine"]["python"]
    assert {t["numerator"] for t in written["targets"]} == {"peer", "lab_fast"}
    own = fast["median_ms"] - strategies["ref_bodies"]["median_ms"] - strategies["baseline_session"]["median_ms"]
    assert written["plugin_own_cost_ms"] == own
    assert sum(line.startswith("the plugin's own cost per test: lab fast path ") for line in lines) == 1
    assert (tmp_path / "isolation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["strategies"].keys() == written["strategies"].keys()

    progress = [line for line in lines if line.startswith("  round 1/1")]
    assert [line.split()[2] for line in progress] == [s.key for s in STRATEGIES]  # one line per run, as it goes
    verdicts = [line for line in lines if line.startswith(("PASS: ", "FAIL: "))]
    assert len(verdicts) == 2 and all("x (target " in line for line in verdicts)
    assert run_sync(names_under(lab_server.url, written["databases_prefix"])) == []  # nothing left behind
