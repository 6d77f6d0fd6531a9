"""labsupport's pytest plugin (entry point ``pytest11``): options, hooks and fixture registration only.

The fixtures live in ``fixtures`` (the server), ``transactional`` (rollback isolation, lesson 02)
and ``engines`` (loop-aware engines, lesson 03); two sub-plugins add lessons 01 and 04. Nothing here starts a server
unless a test asks for one, or the ini option ``lab_start_server`` is true, in which
case the controlling process starts it once before any worker and stops it at the end
only if it started it.
"""

from __future__ import annotations

import pytest

from . import server
from .errors import LabError
from .engines import lab_nullpool_engine, lab_pooled_engine  # noqa: F401 - loop-aware engines (lesson 03)
from .fixtures import lab_server  # noqa: F401 - registered as fixtures
from .transactional import *  # noqa: F401,F403 - rollback-isolation fixtures (lesson 02), see transactional.__all__

pytest_plugins = [
    "labsupport.guard_plugin",  # lesson 01's guard; inert unless lab_guard_url/lab_guard_engines is set
    "labsupport.worker_plugin",  # lesson 04's database per xdist worker; inert unless lab_metadata is set
]

_STARTED = pytest.StashKey[bool]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("lab_start_server", type="bool", default=False,
                  help="start the lab's PostgreSQL for the whole run (stopped afterwards if started here)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = False
    if _is_worker(config) or not config.getini("lab_start_server"):
        return
    try:
        info, started = server.up()
    except LabError as exc:
        raise pytest.UsageError(f"labsupport: {exc}") from None
    config.stash[_STARTED] = started


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_STARTED, False):
        server.down()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if _is_worker(config) or not config.getini("lab_start_server"):
        return None
    info = server.status()
    if info is None:
        return ["labsupport: server not running"]
    started = "started for this run" if config.stash.get(_STARTED, False) else "already running"
    return [f"labsupport: PostgreSQL {info.version} from {info.source} ({started})"]
