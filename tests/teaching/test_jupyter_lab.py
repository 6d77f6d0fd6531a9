"""The JupyterLab that ``labsupport lab`` starts: its command line, the lab's default settings, and the one
start-and-wait for a Jupyter server (on real processes; no browser)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from labsupport import owners
from labsupport.errors import LabError
from labsupport.server.processes import free_port
from labsupport.teaching import jupyter_lab


def test_the_command_serves_the_folder_and_passes_options_on() -> None:
    cmd = jupyter_lab.command("/lessons", ["--port=8899"])
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--notebook-dir=/lessons" in cmd and cmd[-1] == "--port=8899"
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)


def test_a_folder_given_after_the_dashes_replaces_the_default_one() -> None:
    cmd = jupyter_lab.command("/lessons", ["--notebook-dir=/copy"])
    assert [a for a in cmd if a.startswith("--notebook-dir")] == ["--notebook-dir=/copy"]


def test_the_environment_puts_the_labs_settings_first_and_keeps_the_rest() -> None:
    env = jupyter_lab.environment({"JUPYTER_CONFIG_PATH": "/a", "HOME": "/h"})
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(jupyter_lab.CONFIG_DIR), "/a"]
    assert env["HOME"] == "/h"


def test_a_terminal_in_the_lab_finds_labsupport_in_this_venv() -> None:
    """JupyterLab's terminals inherit the server's PATH: a shell there types `labsupport`, not `.venv/bin/labsupport`."""
    import subprocess
    import sysconfig

    env = jupyter_lab.environment({"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    found = subprocess.run(["sh", "-c", "command -v labsupport"], env=env, capture_output=True, text=True, check=False)
    assert found.stdout.strip() == str(Path(sysconfig.get_path("scripts")) / "labsupport"), (found.stdout, found.stderr)
    assert env["PATH"].split(os.pathsep)[1:] == ["/usr/bin", "/bin"]


def test_kernels_start_with_the_labs_guard_unless_the_learner_has_a_startup_file() -> None:
    assert jupyter_lab.environment({})["PYTHONSTARTUP"] == str(jupyter_lab.KERNEL_STARTUP)
    assert jupyter_lab.KERNEL_STARTUP.is_file()
    assert jupyter_lab.environment({"PYTHONSTARTUP": "/mine.py"})["PYTHONSTARTUP"] == "/mine.py"


def test_the_news_settings_name_keys_the_installed_jupyterlab_knows() -> None:
    """A renamed key would silently do nothing: check it against the schema JupyterLab ships."""
    overrides = json.loads((jupyter_lab.CONFIG_DIR / "labconfig" / "default_setting_overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    schema_file = (Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas" / "@jupyterlab"
                   / "apputils-extension" / "notification.json")
    properties = json.loads(schema_file.read_text())["properties"]
    assert {c["const"] for c in properties["fetchNews"]["oneOf"]} >= {"false"}
    assert properties["checkForUpdates"]["type"] == "boolean"


def _server(port: int) -> list[str]:
    """A real HTTP server that answers at /, as a Jupyter server would once it has started."""
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_start_returns_once_the_server_answers(tmp_path: Path) -> None:
    port = free_port()
    proc = jupyter_lab.start(_server(port), f"http://127.0.0.1:{port}/", tmp_path / "server.log",
                             env=os.environ, timeout_s=60, cwd=tmp_path)
    try:
        assert proc.poll() is None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_server_that_exits_at_start_is_one_line_naming_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-c", "import sys; print('no config here'); sys.exit(3)"]
    with pytest.raises(LabError) as caught:
        jupyter_lab.start(cmd, f"http://127.0.0.1:{free_port()}/", log, env=os.environ, timeout_s=60, what="the lab")
    assert str(caught.value) == f"the lab (log: {log}) exited with status 3 before it answered"
    assert log.read_text().strip() == "no config here"


def test_a_server_that_never_answers_is_stopped_with_its_group(tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    code = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
            f" open({str(child_pid)!r}, 'w').write(str(c.pid)); time.sleep(600)")
    with pytest.raises(LabError, match=r"^JupyterLab \(log: .*\) did not answer within 2 s$"):
        jupyter_lab.start([sys.executable, "-c", code], f"http://127.0.0.1:{free_port()}/", tmp_path / "log",
                          env=os.environ, timeout_s=2, new_session=True)
    grandchild = int(child_pid.read_text())
    deadline = time.monotonic() + 30  # its parent is reaped by start; the grandchild by init, a moment later
    while owners.process(grandchild) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert owners.process(grandchild) is None, "the server's own child was left running"
