"""``labsupport bench workshop`` with one simulated attendee on lesson 00: real PostgreSQL, real JupyterLab,
the lab's own runner. The figures must be there and plausible (never judged by speed), and nothing may be
left behind: no server, no state folder."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from labsupport import owners
from labsupport.teaching.bench.workshop import bench_workshop


def _leftover_folders() -> list[Path]:
    mine = f"{owners.TEMP_PREFIX}workshop-{os.getpid()}-"
    return [p for p in Path(tempfile.gettempdir()).glob(mine + "*")]


def test_one_attendee_is_measured_and_nothing_is_left(tmp_path: Path) -> None:
    lines: list[str] = []
    result = bench_workshop(counts=[1], notebook="00", out=tmp_path, report=lines.append)

    (run,) = result["runs"]
    (fig,) = run["per_attendee"]
    assert run["attendees"] == 1 and run["all_passed"], lines
    assert fig["postgres_processes_max"] >= 3, fig  # postmaster, checkpointer, a backend at least
    peak = fig["peak_rss_mib"]
    assert 10 < peak["postgres"] < 4096 and 20 < peak["runner"] < 8192 and 20 < peak["jupyter"] < 4096, peak
    assert peak["total"] <= peak["postgres"] + peak["runner"] + peak["jupyter"] + 0.5, peak
    assert fig["memory_mib"] >= peak["total"] and fig["jupyter_idle_rss_mib"] > 20, fig
    if fig["memory_pss_mib"] is not None:  # Linux: shared pages split, so never above the RSS sum
        assert 0 < fig["memory_pss_mib"] <= fig["memory_mib"], fig
    cpu = fig["cpu_s"]
    assert cpu["runner_tree"] > 0.1 and cpu["postgres"] >= 0 and cpu["total"] >= cpu["runner_tree"], cpu
    assert 0 < fig["wall_s"] == run["slowest_wall_s"], fig
    assert run["max_cpu_s_per_lesson"] == cpu["total"]

    stored = json.loads((tmp_path / "results.json").read_text())["workshop"]
    assert stored["runs"][0]["slowest_wall_s"] == fig["wall_s"]
    assert stored["machine"]["cores"] and stored["machine"]["load_average_1_5_15_min"] is not None
    assert (tmp_path / "workshop.png").stat().st_size > 1000
    assert any(re.search(r"^ 1 +max .*slowest lesson", line) for line in lines), lines
    assert any("attendee 1 ready" in line for line in lines) and any("passed in" in line for line in lines), lines

    found = re.search(r"PostgreSQL pid (\d+)", "\n".join(lines))
    assert found, lines
    assert owners.process(int(found.group(1))) is None, "the attendee's server runs on"  # a zombie has ended: None too
    assert _leftover_folders() == [], "the attendee's state folder was left behind"
