"""``labsupport bench parallel --quick`` for real on the lab's server: what it prints and writes, never speed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labsupport.connection import run_sync
from labsupport.databases import names_under
from labsupport.teaching.bench.parallel import QUICK, bench_parallel

pytestmark = pytest.mark.slow


def test_quick_parallel_bench_measures_every_cell(lab_server, tmp_path: Path, timing_alone: None) -> None:
    (tmp_path / "results.json").write_text(json.dumps({"strategies": {"kept": 1}}))  # another part's figures
    lines: list[str] = []
    result = bench_parallel(quick=True, out=tmp_path, report=lines.append)

    written = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert written["strategies"] == {"kept": 1}  # merged, not clobbered
    par = written["parallel"]
    assert par["quick"] and par["work_ms"] == QUICK["work_ms"] and par["worker_counts"] == QUICK["worker_counts"]
    assert par["cores"] == os.cpu_count() == par["machine"]["cores"]
    cells = {(c["work_ms"], c["workers"]) for c in par["cells"]}
    assert cells == {(w, n) for w in QUICK["work_ms"] for n in (0, *QUICK["worker_counts"])}
    assert all(c["median_s"] > 0 and c["cores"] == par["cores"] for c in par["cells"])
    assert set(par["speedups"]) == {f"{w} ms/test, -n {n}" for w in QUICK["work_ms"] for n in QUICK["worker_counts"]}
    assert all(v > 0 for v in par["speedups"].values())
    assert set(par["crossover_ms"]) == {f"-n {n}" for n in QUICK["worker_counts"]}
    assert all(v is None or v in QUICK["work_ms"] for v in par["crossover_ms"].values())
    assert len(par["runs"]) == len(cells) * QUICK["repeats"] and all(r["tests"] == QUICK["tests"] for r in par["runs"])
    assert (tmp_path / "parallel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result["speedups"] == par["speedups"]

    progress = [line for line in lines if line.startswith("  round 1/1")]
    assert len(progress) == len(cells)  # one line per run, as it goes
    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["work/test", "cores", "-n"])
    rows = lines[header + 1:header + 1 + len(QUICK["work_ms"])]
    assert [row.split()[:3] for row in rows] == [[str(w), "ms", str(os.cpu_count())] for w in QUICK["work_ms"]]
    crossover = [line for line in lines if line.startswith("-n ") and f"on {os.cpu_count()} cores" in line]
    assert len(crossover) == len(QUICK["worker_counts"]) and all("crossover" in line for line in crossover)
    prefix = next(w for w in lines[0].split() if w.startswith("parbench_")).rstrip("_*")
    assert run_sync(names_under(lab_server.url, prefix)) == []  # nothing left behind
