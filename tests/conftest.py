"""Shared fixtures for the lab's own tests. The lab's server itself comes from labsupport's plugin
(``lab_start_server = true`` in pyproject.toml); launcher tests make throwaway clusters of their own.

Every test's subprocesses and kernels inherit an IPYTHONDIR and JUPYTER_* folders of the test's own
(``own_ipython_and_jupyter``, autouse); a subprocess that runs as another user, or needs a HOME and
TMPDIR of its own, gets them from ``users_support.own_folders``. ``LAB_TEST_ORDER=reverse`` runs the
suite in reverse order (CI does, with ``--dist loadfile``), so a test that needs another to run first
fails there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from users_support import own_folders

from labsupport.server import Cluster

# tests/apps/* are projects of their own (their own pytest settings); plugin/test_apps.py runs them.
collect_ignore_glob = ["apps/*"]

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


@pytest.fixture(autouse=True)
def own_ipython_and_jupyter() -> Iterator[None]:
    """IPYTHONDIR, JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR and JUPYTER_RUNTIME_DIR of this test's own, for
    every subprocess and kernel it starts: IPython would otherwise write ``$HOME/.ipython`` (a shared
    HOME, or HOME set to the temporary folder, is read by other tests and other users) and Jupyter its
    runtime files in HOME. HOME and TMPDIR stay: a pip cache, the server's binaries cache and the
    lessons' temporary folders live there (``own_folders`` gives a subprocess those too)."""
    names = ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")
    before = {name: os.environ.get(name) for name in names}
    with own_folders() as folders:
        os.environ.update({name: folders[name] for name in names})
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def timing_lock() -> Iterator[None]:
    """Hold the lab's timing lock: sections that measure speed never run beside each other.

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
def timing_alone() -> Iterator[None]:
    """The whole test holds the lab's timing lock (``timing_lock``)."""
    with timing_lock():
        yield


class Executed(dict):
    """An executed lesson: its recorded outcomes (the dict) and what the learner saw, cell by cell."""

    def __init__(self, outcomes: dict[str, object], notebook: dict[str, Any], path: Path) -> None:
        super().__init__(outcomes)
        self.notebook = notebook
        self.path = path

    @property
    def code_cells(self) -> list[dict]:
        return [c for c in self.notebook["cells"] if c["cell_type"] == "code"]

    def cell(self, marker: str) -> dict:
        """The one code cell whose source contains ``marker``."""
        hits = [c for c in self.code_cells if marker in "".join(c["source"])]
        assert len(hits) == 1, f"{len(hits)} cells contain {marker!r} in {self.path.name}"
        return hits[0]

    def seen(self, marker: str) -> str:
        """What the learner sees below the cell whose source contains ``marker``."""
        return visible_text(self.cell(marker)["outputs"])


def visible_text(outputs: list[dict]) -> str:
    """The text a learner reads in a cell's outputs: streams, the text of rich outputs, errors."""
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append("".join(out.get("text", "")))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
        else:
            data = out.get("data", {})
            text = data.get("text/markdown") or data.get("text/plain") or ""
            parts.append("".join(text))
    return "\n".join(parts)


def _parameters(notebook: Path, lab_server, prefixes: list[str], parameters: dict[str, object]) -> dict[str, object]:
    import secrets

    prefix = str(parameters.pop("db_prefix", "") or f"t{notebook.stem[:2]}_{secrets.token_hex(3)}")
    prefixes.append(prefix)
    return {"database_url": lab_server.url, "db_prefix": prefix, **parameters}


@pytest.fixture
def run_notebook(lab_server, tmp_path: Path):
    """Execute a lesson notebook with papermill on the lab's server; returns its outcomes and cells.

    Fails the test with the notebook's own one-line error (cell and exception) if a cell raised.
    """
    import json

    from labsupport.teaching.notebooks import discover, execute

    prefixes: list[str] = []

    def run(name: str, **parameters: object) -> Executed:
        (notebook,) = discover([name])
        result = execute(notebook, tmp_path, _parameters(notebook, lab_server, prefixes, parameters))
        if not result.ok:
            pytest.fail(f"{notebook.stem}: {result.error}", pytrace=False)
        return Executed(result.outcomes, json.loads(result.output.read_text(encoding="utf-8")), result.output)

    yield run
    _drop(lab_server.url, prefixes)


def _drop(url: str, prefixes: list[str]) -> None:
    from labsupport.connection import run_sync
    from labsupport.databases import drop_under

    for prefix in prefixes:  # what a failed notebook could not clean up itself
        run_sync(drop_under(url, prefix))


class LiveNotebook:
    """A lesson executed cell by cell in one kernel that stays up, as JupyterLab's Run All does:
    cells can be run again afterwards, as a learner would."""

    def __init__(self, client, notebook: Path, prefix: str) -> None:
        self.client, self.path, self.prefix = client, notebook, prefix
        self.nb = client.nb

    def index(self, marker: str) -> int:
        hits = [i for i, c in enumerate(self.nb.cells) if c.cell_type == "code" and marker in c.source]
        assert len(hits) == 1, f"{len(hits)} cells contain {marker!r}"
        return hits[0]

    async def run_all(self, alone: tuple[str, ...] = ()) -> None:
        """Run every code cell in order; a cell whose source contains one of ``alone`` runs holding the
        lab's timing lock (``timing_lock``): only the cells that measure speed wait for each other."""
        for i, cell in enumerate(self.nb.cells):
            if cell.cell_type == "code":
                with timing_lock() if any(m in cell.source for m in alone) else contextlib.nullcontext():
                    await self.client.async_execute_cell(cell, i)

    async def set_parameters(self, **parameters: object) -> None:
        """What a learner does in the parameters cell (``solution = True``): papermill's injected cell
        gets the new values and runs again; later cells see them when they run."""
        (i,) = [i for i, c in enumerate(self.nb.cells) if "injected-parameters" in c.metadata.get("tags", [])]
        cell = self.nb.cells[i]
        cell.source += "".join(f"\n{name} = {value!r}" for name, value in parameters.items())
        await self.client.async_execute_cell(cell, i)

    async def run(self, marker: str) -> str:
        """Run one cell again; returns what the learner sees below it."""
        i = self.index(marker)
        cell = self.nb.cells[i]
        await self.client.async_execute_cell(cell, i)
        return visible_text(cell.outputs)

    def executed(self) -> Executed:
        import nbformat

        from labsupport.teaching.lesson import read_outcomes

        nbformat.write(self.nb, self.path)
        return Executed(read_outcomes(self.path), json.loads(self.path.read_text(encoding="utf-8")), self.path)


@pytest.fixture
def live_notebook(lab_server, tmp_path: Path):
    """``async with live_notebook(name, **parameters) as nb``: a lesson in a kernel kept running."""
    from labsupport.teaching.notebooks import discover, live_kernel

    prefixes: list[str] = []

    @contextlib.asynccontextmanager
    async def open_(name: str, **parameters: object):
        (notebook,) = discover([name])
        params = _parameters(notebook, lab_server, prefixes, parameters)
        async with live_kernel(notebook, params) as client:
            yield LiveNotebook(client, tmp_path / notebook.name, str(params["db_prefix"]))

    yield open_
    _drop(lab_server.url, prefixes)


def check_learner_view(executed: Executed) -> None:
    """What a learner reads: no 'recorded ...' lines, no error output, no traceback anywhere."""
    for cell in executed.code_cells:
        text = visible_text(cell["outputs"])
        source = "".join(cell["source"]).splitlines()[0] if cell["source"] else ""
        assert not any(line.startswith("recorded ") for line in text.splitlines()), (source, text)
        assert not any(out.get("output_type") == "error" for out in cell["outputs"]), (source, text)
        assert "Traceback (most recent call last)" not in text, (source, text)


@pytest.fixture
def learner_view():
    """``learner_view(executed)`` asserts on what the learner reads (see ``check_learner_view``)."""
    return check_learner_view


# ---------------------------------------------------------------- the order of `make test` (pytest -n auto)

# The slowest tests (from `pytest --durations=50`) carry ``@pytest.mark.starts_first(rank)``, the slowest rank 0.
# On 2 cores the run lasts as long as its busiest worker: a lesson that starts last ends the run alone. They
# start first, one per worker. The mark sits on the test itself, so a moved or renamed test keeps its place.
STARTS_FIRST = "starts_first"


def _rank(item: pytest.Item) -> float:
    """The test's ``starts_first`` rank; a test without the mark ranks after every marked one."""
    mark = item.get_closest_marker(STARTS_FIRST)
    if mark is None:
        return float("inf")
    if len(mark.args) != 1 or not isinstance(mark.args[0], int):
        raise pytest.UsageError(f"{item.nodeid}: write @pytest.mark.{STARTS_FIRST}(rank), rank an int (0: slowest)")
    return mark.args[0]


def pytest_configure(config: pytest.Config) -> None:
    """With xdist, hand out one test at a time (``--maxschedchunk 1``) unless told otherwise: its default
    hands each worker a quarter of the tests at once, in order, so the slow ones would share a worker."""
    if config.pluginmanager.hasplugin("xdist") and getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


ORDER_ENV = "LAB_TEST_ORDER"  # "reverse": every test but the slowest in reverse order


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tests first (``starts_first``, by rank), the rest in their usual order, or in reverse order
    with ``LAB_TEST_ORDER=reverse`` (the slowest still start first: the run lasts no longer). xdist's
    load scheduling starts each worker with two tests (items 0-1 and 2-3), so the second slowest moves
    to place 2: the two slowest start at once on different workers."""
    order = os.environ.get(ORDER_ENV, "")
    if order not in ("", "reverse"):
        raise pytest.UsageError(f"{ORDER_ENV}={order!r}: set it to reverse, or unset it for the usual order")
    if order == "reverse":
        items.reverse()
    items.sort(key=_rank)  # stable: the others keep their order
    if len(items) > 2 and _rank(items[1]) != float("inf"):
        items.insert(2, items.pop(1))
