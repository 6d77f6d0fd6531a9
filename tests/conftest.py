"""Shared fixtures for the lab's own tests. The lab's server itself comes from labsupport's plugin
(``lab_start_server = true`` in pyproject.toml); launcher tests make throwaway clusters of their own."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport.server import Cluster


@pytest.fixture
def cluster_home() -> Iterator[Path]:
    """A state folder the server user can reach (pytest's tmp_path is 0700 when run as root)."""
    path = Path(tempfile.mkdtemp(prefix="lab-test-"))
    os.chmod(path, 0o755)
    yield path / "state"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cluster(cluster_home: Path) -> Iterator[Cluster]:
    """A throwaway cluster of its own, destroyed (and so stopped) afterwards."""
    c = Cluster(cluster_home)
    yield c
    c.destroy()


@pytest.fixture
def timing_alone() -> Iterator[None]:
    """Hold the lab's timing lock: notebooks that measure speed never run beside each other.

    An flock, not xdist_group: with pytest 9.2 and pytest-xdist 3.8, ``--dist loadgroup``
    silently ignores the mark (pytest-xdist issue #1386; lesson 04 shows it).
    """
    import fcntl

    lock = Path(tempfile.gettempdir()) / "isolation-lab-timing.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def run_notebook(lab_server, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Execute a lesson notebook with papermill on the lab's server; returns its outcomes.

    Fails the test with the notebook's own one-line error (cell and exception) if a cell raised.
    """
    import secrets

    from labsupport.teaching.notebooks import discover, execute

    prefixes: list[str] = []

    def run(name: str, **parameters: object) -> dict[str, object]:
        (notebook,) = discover([name])
        prefix = f"t{notebook.stem[:2]}_{secrets.token_hex(3)}"
        prefixes.append(prefix)
        params = {"database_url": lab_server.url, "db_prefix": prefix, **parameters}
        result = execute(notebook, tmp_path, params)
        if not result.ok:
            pytest.fail(f"{notebook.stem}: {result.error}", pytrace=False)
        return result.outcomes

    yield run
    from labsupport.connection import run_sync
    from labsupport.databases import drop_under

    for prefix in prefixes:  # what a failed notebook could not clean up itself
        run_sync(drop_under(lab_server.url, prefix))
