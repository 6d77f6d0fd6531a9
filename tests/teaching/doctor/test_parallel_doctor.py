"""``labsupport doctor --parallel [SUITE]`` runs a suite for real, as a user would on their own, and reads
structured data (JUnit XML properties, the probe's JSON, pytest-cov's JSON), never header text."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labsupport.teaching.lesson import SCENARIOS, clean_env

NAMES = ["pytest-xdist installed", "parallel run (-n 2)", "sequential run (-n 0)", "coverage under -n 2",
         "worker isolation", "configuration"]


def _doctor(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsupport", "doctor", "--parallel", *args], capture_output=True,
                          text=True, timeout=600, env=clean_env(env), cwd=cwd, check=False)


@pytest.mark.starts_first(4)
def test_doctor_parallel_checks_the_current_directory_and_passes_lesson_04s_fix(lab_server) -> None:
    proc = _doctor("--cov", "flashcards", cwd=SCENARIOS / "lesson04" / "fixed")  # no SUITE: the current directory
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines and all(line.startswith("[PASS] ") for line in lines), proc.stdout
    assert [line.split(":")[0].removeprefix("[PASS] ") for line in lines] == NAMES
    assert "gw0 -> doctor_" in proc.stdout and "gw1 -> doctor_" in proc.stdout
    assert "% of flashcards" in proc.stdout
    assert not proc.stderr.strip(), proc.stderr


@pytest.mark.starts_first(6)
def test_doctor_parallel_fails_a_suite_whose_workers_share_nothing_of_their_own(lab_server, tmp_path: Path) -> None:
    """Also: coverage that fails (100% asked, a function never called) fails only the coverage check;
    the doctor runs the suite again without coverage to say that the parallel run itself is fine."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider --cov-fail-under=100\n")
    tests = "def never_called():\n    return 0\n\n\n" + "".join(f"def test_{i}():\n    assert {i} == {i}\n\n" for i in range(8))
    (tmp_path / "test_plain.py").write_text(textwrap.dedent(tests))
    proc = _doctor(str(tmp_path), cwd=Path.cwd())
    verdicts = {line.split(":")[0][7:]: line[:6] for line in proc.stdout.splitlines()}
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert verdicts["parallel run (-n 2)"] == "[PASS]" and verdicts["sequential run (-n 0)"] == "[PASS]"
    assert verdicts["worker isolation"] == "[FAIL]" and verdicts["configuration"] == "[FAIL]", proc.stdout
    assert verdicts["coverage under -n 2"] == "[FAIL]" and "fail-under=100" in proc.stdout, proc.stdout
    assert "no lab_metadata" in proc.stdout and "-> give each worker its own database" in proc.stdout


def test_doctor_parallel_names_a_missing_suite_in_one_line(tmp_path: Path) -> None:
    proc = _doctor(str(tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no test suite at" in proc.stderr, proc.stderr
