"""``labsupport doctor --parallel`` runs lesson 04's fixed suite for real and passes every check."""

from __future__ import annotations

import subprocess
import sys

from labsupport.lesson import clean_env


def test_doctor_parallel_prints_only_pass_lines_and_exits_0(lab_server) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "labsupport", "doctor", "--parallel"], capture_output=True,
                          text=True, timeout=600, env=clean_env(), check=False)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines and all(line.startswith("[PASS] ") for line in lines), proc.stdout
    names = [line.split(":")[0].removeprefix("[PASS] ") for line in lines]
    assert names == ["pytest-xdist installed", "parallel run (-n 2)", "sequential run (-n 0)",
                     "coverage under -n 2", "worker isolation", "configuration"]
    assert not proc.stderr.strip(), proc.stderr
