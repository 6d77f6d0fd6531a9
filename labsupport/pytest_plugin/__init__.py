"""labsupport's pytest plugin (entry point ``pytest11``): the take-home room. Hooks and registration only.

Each piece is inert until configured, except the guard's two checks that need no setting:

    options          one reader of settings (flag > ini > env > default), worker check, one-line failure
    guard_hooks      lesson 01: the session stops unless the test database (and the app's) is one; the
                     plugin's engines refuse destructive SQL on other databases (guard)
    transactional    lesson 02: rollback fixtures lab_engine -> lab_connection -> lab_session -> lab_client
    shapes           the app's session shape (session, sessionmaker, engine, connection) and how each joins the test
    project_hooks    the settings that adopt your app (lab_app, lab_session_dependency ...), header lines
    engines          lesson 03: lab_pooled_engine, lab_nullpool_engine, loop-aware
    worker_hooks     lesson 04: a database per xdist worker (workers), once lab_metadata or lab_migrations is set
    template         what builds the workers' template (SQL before the schema, migrations, metadata), kept or not
    migrations       lab_migrations: the template from alembic upgrade head, compared with lab_metadata
    per_worker_chain lesson 02's chain on the worker's database; worker_id_without_xdist: worker_id
                     without pytest-xdist (modules of plain fixtures that worker_hooks registers)
    server_fixture   lab_server: the lab's own PostgreSQL, for a test that asks for it

Rules: this package imports nothing of ``labsupport.teaching``, and ``labsupport.server`` only
inside the hooks and fixtures that need it (a test of the lab checks the import set). The
ini option ``lab_start_server = true`` makes the controlling process take a use of the lab's
server (started if needed) at the session's start, after the guard checked the app's database and
before any worker, and end it at the end (``labsupport.server`` stops the server when the last use
ends, if a use started it); ``server_fixture`` says where its state folder is.
"""

from __future__ import annotations

import pytest

from .engines import lab_nullpool_engine, lab_pooled_engine  # noqa: F401 - loop-aware engines (lesson 03)
from .options import is_worker
from .server_fixture import held, lab_server, start_for_run, stop_run  # noqa: F401 - lab_server is a fixture
from .transactional import *  # noqa: F403 - rollback-isolation fixtures (lesson 02), see transactional.__all__

pytest_plugins = [
    "labsupport.pytest_plugin.project_hooks",  # settings that adopt your app; header lines on config and engine
    "labsupport.pytest_plugin.guard_hooks",  # lesson 01's guard: the test database and the plugin's engines, always
    "labsupport.pytest_plugin.worker_hooks",  # lesson 04's database per xdist worker; inert unless lab_metadata is set
    "labsupport.pytest_plugin.server_hooks",  # the lab's server dying mid-run: one line, and the run stops
]

_STARTED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("lab_start_server", type="bool", default=False,
                  help="use the lab's PostgreSQL for the whole run, started if needed (stopped afterwards if it was "
                       "started for a run or command and nothing else uses it)")
    parser.addini("lab_server_home", default="",
                  help="the lab server's state folder, relative to the configuration file (default: $LAB_HOME, else "
                       "a folder of this user's under $XDG_STATE_HOME/isolation-lab, removed with a server started "
                       "for the run)")


def _starts_server(config: pytest.Config) -> bool:
    return not is_worker(config) and bool(config.getini("lab_start_server"))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = False


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts the workers, and before the header is written
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _starts_server(config) and not config.option.collectonly:
        config.stash[_STARTED] = start_for_run(config)  # the guard first; a bad input: one line, exit 2


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_run(config)  # the run's use of the server, if it took one


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if not _starts_server(config):
        return None
    from .. import server

    info = server.status()
    if info is None:
        return ["labsupport: server not running"]
    started_here = config.stash.get(_STARTED, False) or any(lease.started for lease in held(config))
    started = "started for this run" if started_here else "already running"
    return [f"labsupport: PostgreSQL {info.version} from {info.source} ({started})"]
