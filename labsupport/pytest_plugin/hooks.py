"""Every pytest hook of labsupport's plugin, each once; the work is in the feature modules' functions.

    settings_table   every flag and ini option (pytest_addoption), read at pytest_configure and the session's start
    server_fixture   lab_start_server: the run's use of the lab's server, its header line
    project_hooks    the header's lines on the config file, the app and lab_engine; lab_engine's pool
    guard_hooks      lesson 01's guard: the session's databases, the plugin's engines
    worker_hooks     lesson 04's database per xdist worker: the run, its template, the tests' lock
    server_hooks     the lab's server dying mid-run: one line, and the run stops
    transactional    at the session's start: the redirect links in every test, once a setting names targets

Two hooks need more than a module-level function, and ``_RunHooks`` holds them: the guard's
check at the session's start runs after the conftest files' own ``pytest_sessionstart`` (they may
make the test database it checks) and before the report header, while the controller's start of
the run comes first; and ``pytest_runtest_logreport`` gets only the report, not the run's config.
``pytest_configure_node`` exists only with pytest-xdist (an optional hook).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import guard_hooks, project_hooks, server_fixture, server_hooks, settings_table, transactional, worker_hooks
from .options import is_worker


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_table.register(parser)


def pytest_configure(config: pytest.Config) -> None:
    settings_table.plugin_settings(config)  # every setting read now, once
    guard_hooks.configure(config)  # a bad lab_guard_engines: UsageError before anything else
    worker_hooks.configure(config)
    config.pluginmanager.register(_RunHooks(config), "labsupport-run-hooks")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts the workers (trylast), and before the header
def pytest_sessionstart(session: pytest.Session) -> None:
    worker_hooks.start_run(session)  # a bad input: UsageError, one line
    server_fixture.start_run(session)  # the guard first; a bad input: one line, exit 2


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's, in the controller as it starts each worker
def pytest_configure_node(node: Any) -> None:
    worker_hooks.configure_node(node)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    lines = [*server_fixture.header_lines(config), *project_hooks.header_lines(config),
             *guard_hooks.header_lines(config), *worker_hooks.header_lines(config)]
    return lines or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker_hooks.note_no_parallel(config, items)


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter asks for pytest_report_collectionfinish
def pytest_collection_finish(session: pytest.Session) -> None:
    project_hooks.choose_for_collected(session)


def pytest_report_collectionfinish(config: pytest.Config) -> list[str] | None:
    return project_hooks.collection_lines(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    with worker_hooks.holding_test_lock(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Generator[None, Any, Any]:
    value = yield
    guard_hooks.protect_plugin_engine(fixturedef.argname, value, request.config)
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    project_hooks.tell_controller(item, report)
    server_hooks.mark_if_died(item, report)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    server_hooks.summary_line(terminalreporter, config)


@pytest.hookimpl(trylast=True)  # after the workers and the session fixtures are gone
def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_hooks.finish(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    worker_hooks.unconfigure(config)
    guard_hooks.unconfigure(config)
    server_fixture.stop_run(config)  # the run's use of the server, if it took one


class _RunHooks:
    """The hooks that need a place or an argument a module-level function cannot have (see above)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.xdist_controller = not is_worker(config) and config.pluginmanager.hasplugin("xdist")

    @pytest.hookimpl(trylast=True)  # registered in pytest_configure: after conftest files, before the header
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        settings_table.reread(session.config)
        transactional.every_test_redirects(session.config)  # before collection: its autouse fixture counts
        guard_hooks.check_session(session)

    @pytest.hookimpl(tryfirst=True)  # before the progress character of the first report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.xdist_controller:
            project_hooks.correct_header(self.config, report)
