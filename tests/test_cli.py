"""The command line: every bad input is one line on stderr, exit status 2, and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from labsupport.server import Cluster


def labsupport(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "labsupport", *args], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(("url", "needle"), [
    ("postgresql://x@127.0.0.1:1/db", "nothing is listening at 127.0.0.1:1"),
    ("mysql://x@localhost/db", "needs PostgreSQL"),
    ("not a url", "is not a URL"),
    ("postgresql://x@localhost:port/db", "is not a URL"),
    ("postgresql:///db", "names no host"),
    ("postgresql://x@host.invalid/db", "cannot resolve"),
    ("postgresql://x@127.0.0.1:99999/db", "outside 1-65535"),
    ("postgresql://x@/db?host=/tmp&port=abc", "not a number"),
])
def test_bad_lab_database_url(url: str, needle: str) -> None:
    assert_one_line_error(labsupport("status", env={"LAB_DATABASE_URL": url}), needle, "LAB_DATABASE_URL")


def test_wrong_password(cluster: Cluster) -> None:
    info, _ = cluster.up(tcp=True)
    url = f"postgresql://postgres:not-the-password@127.0.0.1:{info.port}/postgres"
    assert_one_line_error(labsupport("status", env={"LAB_DATABASE_URL": url}), "wrong password")


def test_unknown_notebook() -> None:
    assert_one_line_error(labsupport("run", "99_no_such_lesson"), "unknown notebook", "00_start_here")


def test_busy_port(cluster: Cluster) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = labsupport("up", "--port", str(port), env={"LAB_HOME": str(cluster.home)})
    assert_one_line_error(result, f"port {port}", "in use")


def test_port_out_of_range_is_a_usage_error() -> None:
    assert_one_line_error(labsupport("up", "--port", "70000"), "outside 1-65535")


def test_unusable_state_folder(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert_one_line_error(labsupport("up", env={"LAB_HOME": str(blocker / "state")}), "LAB_HOME")


def test_invalid_database_name_for_url(lab_server: object) -> None:
    assert_one_line_error(labsupport("url", "x" * 64), "64 bytes")


def test_status_of_a_stopped_lab_says_so(cluster: Cluster) -> None:
    result = labsupport("status", env={"LAB_HOME": str(cluster.home)})
    assert result.returncode == 3
    assert "not running" in result.stdout


def test_usage_error_is_one_line_and_exits_2() -> None:
    assert_one_line_error(labsupport("frobnicate"), "invalid choice: 'frobnicate'", "see labsupport --help")
    assert_one_line_error(labsupport("up", "--port", "x"), "'x' is not a port number", "see labsupport up --help")


def test_doctor_passes_every_check(lab_server: object) -> None:
    result = labsupport("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 8
    assert all(line.startswith("[PASS]") for line in lines), result.stdout


def _fresh_home(tmp_path) -> dict[str, str]:
    """A LAB_HOME that must still not exist afterwards: the command started nothing."""
    return {"LAB_HOME": str(tmp_path / "never")}


def test_run_refuses_a_notebook_outside_the_lessons_folder(tmp_path) -> None:
    elsewhere = tmp_path / "x" / "00_start_here.ipynb"
    elsewhere.parent.mkdir()
    elsewhere.write_text("not a notebook, and not the lab's lesson 00")
    out = tmp_path / "out"

    result = labsupport("run", str(elsewhere), "--out", str(out), env=_fresh_home(tmp_path))

    assert_one_line_error(result, str(elsewhere), "outside", "lessons only")
    assert "passed" not in result.stdout
    assert not out.exists() and not (tmp_path / "never").exists()
    assert elsewhere.read_text() == "not a notebook, and not the lab's lesson 00"


def test_a_path_to_a_lesson_inside_the_lessons_folder_is_that_lesson() -> None:
    from labsupport.settings import settings
    from labsupport.teaching.notebooks import discover

    lesson = settings().notebooks / "00_start_here.ipynb"
    relative = os.path.relpath(lesson)
    assert discover([str(lesson)]) == [lesson]
    assert [p.resolve() for p in discover([relative])] == [lesson.resolve()]


@pytest.mark.parametrize("below", ["", "sub"])
def test_run_out_onto_a_file_says_it_is_a_file(tmp_path, below: str) -> None:
    existing = tmp_path / "report.txt"
    existing.write_text("a person's file")
    out = existing / below if below else existing

    result = labsupport("run", "00", "--out", str(out), env=_fresh_home(tmp_path))

    assert_one_line_error(result, "--out", f"{existing} is a file")
    assert "LAB_HOME" not in result.stderr
    assert existing.read_text() == "a person's file"
    assert not (tmp_path / "never").exists()


def test_status_into_a_closed_pipe_ends_quietly(cluster: Cluster) -> None:
    """``labsupport status | head -0``: as other commands, no message, and 128 + SIGPIPE."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "labsupport", "status"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "LAB_HOME": str(cluster.home)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is printed
    stderr = proc.stderr.read().decode()
    proc.stderr.close()

    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE, stderr
    assert stderr == ""
    assert not cluster.home.exists()  # status changed nothing
