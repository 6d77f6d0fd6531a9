"""Every lesson as a learner meets it: JupyterLab started by ``labsupport lab``, each notebook opened
in headless Chromium (Playwright, the system's ``/usr/bin/chromium``), Run All, and no error output.

Not part of ``make test`` (``-m 'not browser'`` in pyproject's addopts); ``make test-browser`` runs it.
JupyterLab serves a copy of ``notebooks/`` (the checked-in lessons never get outputs), with fresh
workspace, settings, config and runtime folders, so nothing from an earlier session reopens a tab.
A screenshot of each executed lesson goes to ``build/screenshots/<notebook>.png``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import (
    START_TIMEOUT_S,
    launch_chromium,
    news_toasts,
    run_all,
    save,
    saved_problems,
    screenshot,
    shown_errors,
    shutdown_kernel,
    state,
    wait_until_ready,
)

from labsupport.errors import LabError
from labsupport.server.processes import free_port
from labsupport.teaching import jupyter_lab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
LESSON_TIMEOUT_S = 900  # lesson 04: 2.5 minutes idle, 5.3-9.2 measured on a busy 2-core machine; 03 up to 3


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Headless system Chromium under Playwright (browser_support.launch_chromium)."""
    with launch_chromium() as browser:
        yield browser


@dataclass
class Lab:
    """A running JupyterLab: where it is, how to reach it, and the folder it serves."""

    base_url: str
    token: str
    folder: Path
    log: Path

    def api(self, path: str, method: str = "GET") -> object:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _start_lab(folder: Path, state: Path, lab_settings: bool = True) -> tuple[subprocess.Popen[bytes], Lab]:
    """``labsupport lab`` as ``make lab`` runs it, plus JupyterLab options after ``--`` for a test:
    127.0.0.1 on a free port, a token, no browser, and fresh workspace/settings/config/runtime folders.

    ``lab_settings=False`` starts plain JupyterLab instead (the same command line, without the
    lab's settings and without its server): the control for the news check.
    """
    port, token = free_port(), secrets.token_hex(16)
    for name in ("workspaces", "user-settings", "config", "runtime"):
        (state / name).mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # the kernels are a learner's
    env |= {"JUPYTER_CONFIG_DIR": str(state / "config"), "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces")}
    options = ["--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
               f"--IdentityProvider.token={token}", f"--notebook-dir={folder}",
               f"--LabApp.workspaces_dir={state / 'workspaces'}",
               f"--LabApp.user_settings_dir={state / 'user-settings'}",
               "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: its commands and notebook models
    if lab_settings:
        cmd = [str(Path(sys.executable).with_name("labsupport")), "lab", "--", *options]
    else:
        cmd = jupyter_lab.command(folder, options)
        env.pop("JUPYTER_CONFIG_PATH", None)
    lab = Lab(f"http://127.0.0.1:{port}", token, folder, state / "jupyterlab.log")
    try:
        proc = jupyter_lab.start(cmd, f"{lab.base_url}/api/status", lab.log, env=env, timeout_s=START_TIMEOUT_S,
                                 what=f"JupyterLab ({cmd[0]} ...)", headers={"Authorization": f"token {token}"},
                                 cwd=ROOT)
    except LabError as exc:
        pytest.fail(f"{exc}:\n{lab.log_tail()}", pytrace=False)
    return proc, lab


def _stop_lab(proc: subprocess.Popen[bytes], lab: Lab) -> None:
    """Shut JupyterLab down through its API (it stops its kernels), then by signal if it lingers."""
    try:
        lab.api("/api/shutdown", method="POST")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def lab(lab_server) -> Iterator[Lab]:
    """JupyterLab on a copy of notebooks/ (scenarios included: cells open them relative to the notebook)."""
    originals = {name: (NOTEBOOKS / name).read_bytes() for name in LESSONS}
    tmp = Path(tempfile.mkdtemp(prefix="lab-browser-"))
    try:
        folder = tmp / "notebooks"
        shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns(
            "__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".coverage*"))
        proc, running = _start_lab(folder, tmp / "state")
        try:
            yield running
        finally:
            _stop_lab(proc, running)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for name, data in originals.items():
            assert (NOTEBOOKS / name).read_bytes() == data, f"the browser test changed notebooks/{name}"


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_in_the_browser_without_errors(name: str, chromium, lab: Lab, timing_alone) -> None:
    """Open the lesson, Run All, wait until every code cell has run, save, and find no error output."""
    stem = name.removesuffix(".ipynb")
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    started = time.monotonic()
    try:
        # A named workspace per lesson, in a workspace folder that is new for this run: nothing else reopens.
        page.goto(f"{lab.base_url}/lab/workspaces/{stem}/tree/{name}?token={lab.token}")
        wait_until_ready(page, name)
        run_all(page, name, LESSON_TIMEOUT_S)
        ran_s = time.monotonic() - started
        now = state(page, name)
        assert now["open"], f"{name}: its tab closed during the run"
        assert now["status"] != "dead", f"{name}: the kernel died\n{lab.log_tail()}"

        save(page, name)
        shot = screenshot(page, name, stem)
        # What the learner sees in the page, and what JupyterLab saved (read back through the contents API).
        shown = shown_errors(page, name)
        saved = lab.api(f"/api/contents/{name}?content=1&type=notebook")["content"]  # type: ignore[index]  # the contents API answers JSON
        saved_errors, unrun = saved_problems(saved)
        assert not shown and not saved_errors, f"{name}: error output: " + "; ".join(shown or saved_errors)
        assert not unrun, f"{name}: code cells {unrun} did not run"
        assert not news_toasts(page), f"{name}: JupyterLab shows a news/update notification: {news_toasts(page)}"
        code_cells = sum(c["cell_type"] == "code" for c in saved["cells"])
        print(f"{name}: {code_cells} code cells ran in {ran_s:.0f} s; screenshot {shot}")
    finally:
        shutdown_kernel(page, name)
        context.close()


def test_jupyterlab_news_is_off_for_learners(chromium, lab: Lab) -> None:
    """The lab's settings turn JupyterLab's news pop-up and update check off, and the page shows no toast."""
    settings = lab.api("/lab/api/settings/@jupyterlab/apputils-extension:notification")
    composite = settings["settings"] if settings["settings"] else {  # type: ignore[index]  # the settings API answers JSON
        k: v.get("default") for k, v in settings["schema"]["properties"].items()}  # type: ignore[index]  # the settings API answers JSON
    assert composite.get("fetchNews") == "false" and composite.get("checkForUpdates") is False, composite
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{lab.base_url}/lab/workspaces/news-check?token={lab.token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined",
                               timeout=START_TIMEOUT_S * 1000)
        page.wait_for_selector(".jp-LabShell", timeout=START_TIMEOUT_S * 1000)
        page.wait_for_timeout(5000)  # the news question appears a moment after start-up when it is on
        assert not news_toasts(page), f"news/update notification shown: {news_toasts(page)}"
    finally:
        context.close()


def test_the_news_check_sees_the_toast_without_the_labs_settings(chromium, tmp_path: Path) -> None:
    """The control for the test above: plain JupyterLab (the lab's command line, not its settings) asks
    about the news, and ``_news_toasts`` sees it; so "no toast" above is not a selector gone stale."""
    proc, plain = _start_lab(tmp_path, tmp_path / "state", lab_settings=False)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{plain.base_url}/lab?token={plain.token}")
        page.wait_for_selector(".Toastify__toast", timeout=30_000)
        assert news_toasts(page), page.locator(".Toastify__toast").all_inner_texts()
    finally:
        context.close()
        _stop_lab(proc, plain)
