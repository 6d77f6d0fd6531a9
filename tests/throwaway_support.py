"""A throwaway lab of a test's own for the ``labsupport`` subprocesses it starts: their environment, waiting
for what they do, and whether a run has started its notebook's kernel (the server and fault tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from labsupport import owners
from labsupport.server import Cluster

_DROPPED = ("PYTEST_", "FORCE_COLOR", "PY_COLORS", "LAB_OWNER", "LAB_SERVER_USE", "LAB_DATABASE_URL", "LAB_HOME")


def lab_env(cluster: Cluster, tmp_path: Path) -> dict[str, str]:
    """A subprocess environment for ``cluster``'s lab: its own HOME, IPython, Jupyter runtime and temp folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    for name in ("home", "tmp", "runtime"):
        (tmp_path / name).mkdir(exist_ok=True)
    return env | {"LAB_HOME": str(cluster.home), "HOME": str(tmp_path / "home"), "TMPDIR": str(tmp_path / "tmp"),
                  "IPYTHONDIR": str(tmp_path / "home" / ".ipython"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}


def wait_for(check: Callable[[], object], what: str, seconds: float = 180) -> None:
    """Poll ``check`` every 0.1 s until it is true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:g} s"
        time.sleep(0.1)


def kernels_of(parents: set[int]) -> list[owners.Process]:
    """The notebook kernels (processes running ipykernel) whose parent is one of ``parents``."""
    return [p for p in owners.processes() if p.ppid in parents and "ipykernel" in p.args]


def started_a_kernel(pid: int) -> bool:
    """Whether the process ``pid`` has started a notebook's kernel (a child running ipykernel)."""
    return bool(kernels_of({pid}))
