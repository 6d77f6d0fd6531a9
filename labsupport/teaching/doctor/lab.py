"""``labsupport doctor``: the lab's verification script, one PASS/FAIL line per check with a remedy."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ... import databases, server
from ...connection import run_sync
from ...errors import LabError, os_error_parts
from ...server.cluster import SHM, memory_ok
from ...settings import settings

__all__ = ["Check", "run_checks", "REQUIRED"]

# The plugin's own dependencies, then the [lab] extra's that the lessons import.
REQUIRED = ("sqlalchemy", "asyncpg", "greenlet", "pytest", "pytest-asyncio", "pytest-xdist", "papermill",
            "nbclient", "ipykernel", "ipytest", "jupyterlab", "fastapi", "httpx", "matplotlib")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    remedy: str = ""

    def line(self) -> str:
        text = f"[{'PASS' if self.ok else 'FAIL'}] {self.name}: {self.detail}"
        return text if self.ok or not self.remedy else f"{text} -> {self.remedy}"


def _python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", ok, sys.version.split()[0], "install Python 3.11 or newer")


def _packages() -> Check:
    found, missing = [], []
    for name in REQUIRED:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", False, "missing " + ", ".join(missing), "run 'make run' (or pip install -e '.[lab]')")
    return Check("packages", True, ", ".join(found))


def _source() -> Check:
    return Check("server source", True, server.current().source())


async def _sqlalchemy_roundtrip(url: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(text("SELECT version()"))).scalar_one())
    finally:
        await engine.dispose()


async def _clone_roundtrip(admin_url: str) -> float:
    template, copy = "lab_doctor_template", "lab_doctor_copy_test"
    await databases.create(admin_url, template, replace=True)
    try:
        started = time.perf_counter()
        await databases.clone(admin_url, template, copy, replace=True)
        elapsed = time.perf_counter() - started
        await databases.drop(admin_url, copy)
        return elapsed
    finally:
        await databases.drop(admin_url, template)


def _placement(info: server.ServerInfo, clone_seconds: float | None) -> Check:
    """Where the cluster's files live: in memory (/dev/shm) or on disk, and on disk what a clone costs.

    Docker's default /dev/shm (64 MiB: Binder, JupyterHub on Kubernetes) is too small, so there the
    lab keeps them on disk; this line says so, with the clone time just measured.
    """
    if not info.managed or not info.data_dir:
        return Check("cluster files", True, "on LAB_DATABASE_URL's server, not the lab's to place")
    real = Path(info.data_dir).resolve()
    if real.is_relative_to(Path(SHM).resolve()):
        return Check("cluster files", True, f"in memory ({real})")
    clone = f"a template clone took {clone_seconds * 1000:.0f} ms" if clone_seconds is not None else "no clone measured"
    return Check("cluster files", True, f"on disk ({real}; {_why_on_disk()}): {clone}")


def _why_on_disk() -> str:
    """``memory_ok``'s reason; when it would now choose memory, the files went to disk when the cluster was made."""
    try:
        placement = memory_ok()
    except LabError as exc:  # LAB_DATA_IN_MEMORY=1 without room: the cluster was made before it was set
        return str(exc)
    return placement.why if not placement.in_memory else f"placed when the cluster was made; now {placement.why}"


def _kernel() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager

        spec = KernelSpecManager().get_kernel_spec("python3")
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable kernel"
        return Check("python3 kernel", False, str(exc).splitlines()[0], "pip install ipykernel in the lab's environment")
    return Check("python3 kernel", True, f"{spec.display_name} ({spec.argv[0]})")


def _notebooks() -> Check:
    """The lessons are there and readable. Outputs a learner's JupyterLab saved are fine here: that
    the committed notebooks carry none is the maintainers' check (tests/lessons/test_notebooks.py)."""
    folder = settings().notebooks
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        return Check("notebooks", False, f"none in {folder}", "run from the lab's checkout")
    unreadable, worked = [], []
    for path in found:
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            unreadable.append(path.name)
            continue
        if any(c.get("outputs") or c.get("execution_count") for c in nb.get("cells", []) if c.get("cell_type") == "code"):
            worked.append(path.name[:2])
    if unreadable:
        return Check("notebooks", False, "not valid notebooks: " + ", ".join(unreadable),
                     "restore them with 'git checkout notebooks/' (your edits to them are lost)")
    note = f" ({', '.join(worked)} with your outputs saved: fine)" if worked else ""
    return Check("notebooks", True, f"{len(found)} lessons found{note}")


def run_checks(report: Callable[[str], None] = print) -> bool:
    """Run every check, reporting each as it finishes; True only when all pass."""
    checks: list[Check] = []

    def add(check: Check) -> None:
        checks.append(check)
        report(check.line())

    add(_python())
    add(_packages())
    external = settings().external_url is not None
    try:
        add(_source())
        lease = server.acquire()
        info, started = lease.info, lease.started
    except (LabError, OSError) as exc:  # each says what to do; a folder that is not ours too, as a FAIL line
        if isinstance(exc, LabError):  # its message already says what to do
            add(Check("server starts", False, str(exc)))
        else:
            add(Check("server starts", False, *os_error_parts(exc)))
        add(_kernel())
        add(_notebooks())
        return False
    try:
        add(Check("server starts", True, f"PostgreSQL {info.version} answers ({'started now' if started else 'already running'})"))
        try:
            version = run_sync(_sqlalchemy_roundtrip(info.url))
            add(Check("SQLAlchemy + asyncpg", True, version.split(",")[0]))
        except Exception as exc:  # noqa: BLE001 - a check that fails in any way is a [FAIL] line, never a traceback
            add(Check("SQLAlchemy + asyncpg", False, f"{type(exc).__name__}: {exc}", "reinstall with 'make run'"))
        seconds = None
        try:
            seconds = run_sync(_clone_roundtrip(info.url))
            add(Check("template clone", True, f"{seconds * 1000:.0f} ms"))
        except Exception as exc:  # noqa: BLE001 - a check that fails in any way is a [FAIL] line, never a traceback
            add(Check("template clone", False, f"{type(exc).__name__}: {exc}",
                      "check that LAB_DATABASE_URL's server lets its user create databases from a template"
                      if external else "run 'labsupport reset --force' (the lab's databases are lost)"))
        add(_placement(info, seconds))
    finally:
        server.release(lease)  # stops the server if this check started it and nothing else uses it
    add(_kernel())
    add(_notebooks())
    return all(c.ok for c in checks)

