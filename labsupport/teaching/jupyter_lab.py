"""How the lab starts JupyterLab: one command line and one environment, for ``labsupport lab`` and the browser
test, and one start-and-wait (``start``) for a Jupyter server: the workshop bench's JupyterLabs, the browser
test's, and the hub test's JupyterHub.

The lab ships JupyterLab defaults of its own in ``jupyter_config/labconfig/default_setting_overrides.json``
(the news pop-up and the update check are off), found through ``JUPYTER_CONFIG_PATH``. They are defaults:
a learner who turns the news on in Settings keeps that choice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import LabError

__all__ = ["CONFIG_DIR", "KERNEL_STARTUP", "command", "environment", "start", "wait_until_serving"]

CONFIG_DIR = Path(__file__).resolve().parent / "jupyter_config"
KERNEL_STARTUP = Path(__file__).resolve().parent / "kernel_startup.py"


_ROOT_DIR_OPTIONS = ("--notebook-dir", "--ServerApp.root_dir", "--ServerApp.notebook_dir")


def command(notebook_dir: str | os.PathLike[str], extra: Iterable[str] = ()) -> list[str]:
    """The JupyterLab command line (argv, ``sys.executable`` first) serving ``notebook_dir``.

    ``extra`` are JupyterLab's own options; one naming the root folder replaces ``notebook_dir``
    (JupyterLab refuses the option twice).
    """
    extra = list(extra)
    cmd = [sys.executable, "-m", "jupyterlab"]
    if not any(arg.split("=", 1)[0] in _ROOT_DIR_OPTIONS for arg in extra):
        cmd.append(f"--notebook-dir={notebook_dir}")
    if getattr(os, "geteuid", lambda: -1)() == 0:
        cmd.append("--allow-root")  # JupyterLab refuses to start as root without it
    return cmd + extra


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the lab's JupyterLab settings on ``JUPYTER_CONFIG_PATH``
    and the venv's ``bin`` first on ``PATH``; kernels start with ``kernel_startup.py`` (``PYTHONSTARTUP``)."""
    env = dict(os.environ if base is None else base)
    paths = [str(CONFIG_DIR), *(p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p)]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    # JupyterLab's terminals inherit this PATH: there `labsupport`, `python` and `pytest` are this venv's.
    scripts = [sysconfig.get_path("scripts"), *(p for p in env.get("PATH", "").split(os.pathsep) if p)]
    env["PATH"] = os.pathsep.join(dict.fromkeys(scripts))
    # Their kernels start with the lab's NameError guard (kernel_guard), unless the learner has a startup file.
    env.setdefault("PYTHONSTARTUP", str(KERNEL_STARTUP))
    return env


_POLL_S = 0.5
_STOP_S = 15.0


def start(cmd: Sequence[str], url: str, log: Path, *, env: Mapping[str, str], timeout_s: float,
          what: str = "JupyterLab", headers: Mapping[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None, new_session: bool = False) -> subprocess.Popen[bytes]:
    """Start a Jupyter server (``cmd``, its output appended to ``log``) and return it once ``url`` answers.

    If it exits first or does not answer within ``timeout_s``, it is stopped (with its process group
    when ``new_session`` gave it one) and a one-line ``LabError`` names ``what`` and the log.
    """
    with open(log, "ab") as sink:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=new_session)
    try:
        wait_until_serving(proc, url, timeout_s, f"{what} (log: {log})", headers)
    except BaseException:  # a timeout, or an interrupt: nothing started here is left running
        _stop(proc, new_session)
        raise
    return proc


def wait_until_serving(proc: subprocess.Popen[bytes], url: str, timeout_s: float, what: str,
                       headers: Mapping[str, str] | None = None) -> None:
    """Return once ``url`` answers 200; ``LabError`` if ``proc`` exits first or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers=dict(headers or {}))
    while True:
        if proc.poll() is not None:
            raise LabError(f"{what} exited with status {proc.returncode} before it answered")
        if _answers(request):
            return
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not answer within {timeout_s:.0f} s")
        time.sleep(_POLL_S)


def _answers(request: urllib.request.Request) -> bool:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):  # not listening yet, an error page, a broken answer
        return False


def _stop(proc: subprocess.Popen[bytes], group: bool) -> None:
    """SIGTERM, then SIGKILL if it lingers; to the whole group when the process leads its own."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:  # gone already
            pass
        try:
            proc.wait(timeout=_STOP_S)
            return
        except subprocess.TimeoutExpired:
            continue
