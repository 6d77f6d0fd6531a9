"""The JupyterLab that ``labsupport lab`` starts: its command line and the lab's default settings (no browser)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

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
