"""The pytest hooks for a database per xdist worker (lesson 04); the pieces are in ``workers``.

labsupport's plugin loads this module in every run; it stays inert (one marker registered,
nothing else) until ``lab_metadata`` or ``lab_migrations`` names the app's schema (the
template's own settings are in ``template``). Settings, first match wins: command-line flag,
ini option, environment variable, default::

    --lab-metadata SPEC    lab_metadata     -                 (this or lab_migrations)
    --lab-server-url SRC   lab_server_url   LAB_SERVER_URL    the lab's own server (started if needed)
    --lab-db-prefix NAME   lab_db_prefix    LAB_DB_PREFIX     the rootdir's name

``lab_server_url`` and ``lab_db_prefix`` may say ``env:VARIABLE`` (``options`` reads them all).
The lab's own server is imported and started only here, in ``pytest_sessionstart``, when no
``lab_server_url`` is given. The controller does its work in
``pytest_sessionstart`` (tryfirst), before pytest-xdist starts the workers in its own (trylast),
and hands the result to each worker through ``pytest_configure_node``; SQLAlchemy's test plugin
does the same, registering that hook only when xdist is loaded.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ..connection import run_sync
from ..databases import drop_under
from ..errors import LabError
from . import server_fixture, template, workers
from .options import Setting, expand, import_hint, is_worker, read, resolve_url, worker_id
from .workers import (  # noqa: F401 - registered as fixtures
    is_parallel_run,
    lab_run_prefix,
    lab_worker_database,
    lab_worker_database_name,
)

if TYPE_CHECKING:
    from ..server import Lease

NO_PARALLEL = ("no_parallel: run this test alone; under pytest-xdist the other workers finish their current "
               "test first and wait until it is done (labsupport.pytest_plugin.workers; needs lab_metadata; without xdist "
               "it changes nothing)")


@dataclass
class _Run:
    """The controller's side of a run: what to show in the header and what to undo at the end."""

    info: workers.RunInfo
    claim: workers.RunClaim
    sources: dict[str, str]
    server: str
    lease: Lease | None  # the run's use of the lab's own server (None with lab_server_url)
    built: template.Template | None = None  # the template the workers clone, and how it came to be
    finished: bool = False


@dataclass
class _Worker:
    needs_lock: bool = False
    lock: workers.TestLock | None = field(default=None)


_SETTINGS = pytest.StashKey[dict[str, Setting]]()
_RUN = pytest.StashKey[_Run]()
_WORKER = pytest.StashKey[_Worker]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labsupport-workers", "labsupport: a database per pytest-xdist worker")
    group.addoption("--lab-metadata", dest="lab_metadata", metavar="SPEC", default=None,
                    help="the app's schema, module:attribute (a MetaData, a Base, or a callable(url)); turns the "
                         "per-worker databases on")
    group.addoption("--lab-server-url", dest="lab_server_url", metavar="SOURCE", default=None,
                    help="the server's superuser URL, or env:VARIABLE (default: $LAB_SERVER_URL, else the lab's own)")
    group.addoption("--lab-db-prefix", dest="lab_db_prefix", metavar="NAME", default=None,
                    help="prefix of the run's databases, <prefix>_gw0_test ... (default: $LAB_DB_PREFIX, else the "
                         "rootdir's name)")
    template.addoption(parser, group)
    parser.addini("lab_metadata", default="", help="the app's schema for the per-worker databases, module:attribute")
    parser.addini("lab_server_url", default="", help="the server for the per-worker databases: a URL or env:VARIABLE")
    parser.addini("lab_db_prefix", default="", help="prefix of the per-worker databases, or env:VARIABLE")


def _settings(config: pytest.Config) -> dict[str, Setting] | None:
    schema, migrations = read(config, "lab_metadata"), read(config, "lab_migrations")
    if not (schema.value or migrations.value):
        return None
    return {
        "schema": schema,
        "migrations": migrations,
        "server": read(config, "lab_server_url", "LAB_SERVER_URL"),
        "prefix": read(config, "lab_db_prefix", "LAB_DB_PREFIX", workers.default_prefix(config.rootpath)),
    }


class _XdistHooks:
    """Registered only when pytest-xdist is loaded: its hook does not exist otherwise."""

    @pytest.hookimpl
    def pytest_configure_node(self, node) -> None:
        run = node.config.stash.get(_RUN, None)
        if run is not None:
            node.workerinput["labsupport_workers"] = run.info.as_dict()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", NO_PARALLEL)
    if not config.pluginmanager.hasplugin("xdist"):
        from . import worker_id_without_xdist

        config.pluginmanager.register(worker_id_without_xdist, "labsupport-worker-id")
    settings = _settings(config)
    if settings is None:
        return
    config.stash[_SETTINGS] = settings
    from . import per_worker_chain

    config.pluginmanager.register(per_worker_chain, "labsupport-per-worker-database")
    if is_worker(config):
        config.stash[_WORKER] = _Worker()
    elif config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "labsupport-workers-xdist")


def _start(config: pytest.Config, settings: dict[str, Setting]) -> _Run:
    from .. import urls

    recipe = template.from_settings(config, settings["schema"])
    prefix = workers.validate_prefix(expand(settings["prefix"].value, "lab_db_prefix", settings["prefix"].source),
                                     f"lab_db_prefix ({settings['prefix'].source})")
    lease = None
    if settings["server"].value:
        parsed = urls.parse(resolve_url(settings["server"].value, "lab_server_url", settings["server"].source,
                                        import_hint(config)),
                            what=f"lab_server_url ({settings['server'].source})")
        admin_url = parsed.render_as_string(hide_password=False)
        where = f"{urls.describe(admin_url)} ({settings['server'].source})"
    else:
        lease = server_fixture.take_for_workers(config)  # the lab's own server: started only if a setting says so
        admin_url = lease.info.url
        where = f"{urls.describe(admin_url)} ({lease.info.source}{', started for this run' if lease.started else ''})"
    try:
        claim = workers.RunClaim.take(admin_url, prefix)
        try:
            built = template.for_run(config, admin_url, prefix, recipe)
        except BaseException:
            claim.release()
            raise
    except BaseException:
        if lease is not None:
            server_fixture.give_back(config, lease)
        raise
    sources = {key: f"{settings[key].value} ({settings[key].source})" for key in ("schema", "migrations")
               if settings[key].value}
    sources["prefix"] = f"{prefix} ({settings['prefix'].source})"
    return _Run(info=workers.RunInfo(admin_url, prefix, built.name), claim=claim, sources=sources, server=where,
                lease=lease, built=built)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts the workers (its sessionstart is trylast)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or is_worker(config) or config.option.collectonly:
        return
    try:
        run = _start(config, settings)
    except LabError as exc:
        raise pytest.UsageError(f"labsupport workers: {exc}") from None
    config.stash[_RUN] = run
    config.stash[workers.RUN_INFO] = run.info


def _xdist_workers(config: pytest.Config) -> list[str]:
    if getattr(config.option, "dist", "no") == "no" or not getattr(config.option, "tx", None):
        return []
    return [f"gw{i}" for i in range(len(config.option.tx))]


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return None
    lines = workers.header_lines(run.info, _xdist_workers(config), run.sources, run.server, run.claim.reaped)
    if run.built is not None:
        lines += [run.built.header_line(), *run.built.notes]
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(_WORKER, None)
    if state is not None:  # every worker collects the whole suite, so each one knows
        state.needs_lock = any(item.get_closest_marker("no_parallel") for item in items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    state = item.config.stash.get(_WORKER, None)
    info = workers.run_info(item.config)
    if state is None or not state.needs_lock or info is None:
        return (yield)
    if state.lock is None:
        state.lock = workers.TestLock(info.admin_url, info.prefix, worker_id(item.config))
    alone = item.get_closest_marker("no_parallel") is not None
    state.lock.acquire(alone)
    try:
        return (yield)
    finally:
        state.lock.release(alone)


def _finish(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None or run.finished:
        return
    run.finished = True
    try:
        run_sync(drop_under(run.info.admin_url, run.info.prefix, only=lambda name: workers.owns(run.info.prefix, name)))  # template, dead workers' copies
    except LabError as exc:  # a clean-up failure is a line in the report, never a crash
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"labsupport workers: clean-up failed: {exc}")
    finally:
        run.claim.release()
        if run.lease is not None:
            server_fixture.give_back(config, run.lease)


@pytest.hookimpl(trylast=True)  # after the workers and the session fixtures are gone
def pytest_sessionfinish(session: pytest.Session) -> None:
    _finish(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _finish(config)  # if the session ended before sessionfinish (an error at its start)
    state = config.stash.get(_WORKER, None)
    if state is not None and state.lock is not None:
        state.lock.close()
