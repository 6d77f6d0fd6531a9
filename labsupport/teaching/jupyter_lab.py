"""How the lab starts JupyterLab: one command line and one environment, for ``labsupport lab`` and the browser test.

The lab ships JupyterLab defaults of its own in ``jupyter_config/labconfig/default_setting_overrides.json``
(the news pop-up and the update check are off), found through ``JUPYTER_CONFIG_PATH``. They are defaults:
a learner who turns the news on in Settings keeps that choice.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["CONFIG_DIR", "KERNEL_STARTUP", "command", "environment"]

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
