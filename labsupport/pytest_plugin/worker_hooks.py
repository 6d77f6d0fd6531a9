"""The per-worker databases' part of the plugin's hooks (lesson 04); the pieces are in ``workers``.

``hooks`` calls these functions in every run; they stay inert (one marker registered, nothing
else) until ``lab_metadata`` or ``lab_migrations`` names the app's schema. Their other settings
(``lab_server_url``, ``lab_db_prefix``, the template's) are in ``settings_table``; a value may
say ``env:VARIABLE``, read here at use. The lab's own server is imported and started only in
``start_run``, when no ``lab_server_url`` is given. The controller does its work at the
session's start (``pytest_sessionstart``, tryfirst), before pytest-xdist starts the workers in
its own (trylast), and hands the result to each worker (``configure_node``: pytest-xdist's
``pytest_configure_node``, an optional hook that only xdist calls).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from ..connection import run_sync
from ..databases import drop_under
from ..errors import LabError
from . import server_fixture, template, workers
from .options import expand, import_hint, is_worker, resolve_url, worker_id
from .settings_table import PluginSettings, Setting, plugin_settings

if TYPE_CHECKING:
    from ..server import Lease

__all__ = ["NO_PARALLEL", "configure", "start_run", "configure_node", "header_lines", "note_no_parallel",
           "holding_test_lock", "finish", "unconfigure"]

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


_RUN = pytest.StashKey[_Run]()
_WORKER = pytest.StashKey[_Worker]()


def _on(settings: PluginSettings) -> bool:
    """The per-worker databases are on once lab_metadata or lab_migrations names the schema."""
    return bool(settings.lab_metadata.value or settings.lab_migrations.value)


def configure_node(node) -> None:
    """The controller hands the run to each xdist worker it starts."""
    run = node.config.stash.get(_RUN, None)
    if run is not None:
        node.workerinput["labsupport_workers"] = run.info.as_dict()


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", NO_PARALLEL)
    if not config.pluginmanager.hasplugin("xdist"):
        from . import worker_id_without_xdist

        config.pluginmanager.register(worker_id_without_xdist, "labsupport-worker-id")
    if not _on(plugin_settings(config)):
        return
    from . import per_worker_chain

    config.pluginmanager.register(per_worker_chain, "labsupport-per-worker-database")
    if is_worker(config):
        config.stash[_WORKER] = _Worker()


def _start(config: pytest.Config, settings: PluginSettings) -> _Run:
    from .. import urls

    recipe = template.from_settings(config, settings)
    given, server = settings.lab_db_prefix, settings.lab_server_url
    prefix = workers.validate_prefix(expand(given.value, "lab_db_prefix", given.source),
                                     f"lab_db_prefix ({given.source})")
    lease = None
    if server.value:
        parsed = urls.parse(resolve_url(server.value, "lab_server_url", server.source, import_hint(config)),
                            what=f"lab_server_url ({server.source})")
        admin_url = parsed.render_as_string(hide_password=False)
        where = f"{urls.describe(admin_url)} ({server.source})"
    else:
        lease = server_fixture.take_for_workers(config)  # the lab's own server: started only if a setting says so
        admin_url = lease.info.url
        where = f"{urls.describe(admin_url)} ({lease.info.source}{', started for this run' if lease.started else ''})"
    try:
        claim = workers.RunClaim.take(admin_url, prefix)
        try:
            built = template.for_run(settings, admin_url, prefix, recipe)
        except BaseException:
            claim.release()
            raise
    except BaseException:
        if lease is not None:
            server_fixture.give_back(config, lease)
        raise
    named: dict[str, Setting] = {"schema": settings.lab_metadata, "migrations": settings.lab_migrations}
    sources = {key: f"{setting.value} ({setting.source})" for key, setting in named.items() if setting.value}
    sources["prefix"] = f"{prefix} ({given.source})"
    return _Run(info=workers.RunInfo(admin_url, prefix, built.name), claim=claim, sources=sources, server=where,
                lease=lease, built=built)


def start_run(session: pytest.Session) -> None:
    """The controller's work, before pytest-xdist starts the workers: the prefix's lock, the template
    (a bad setting: UsageError, one line)."""
    config = session.config
    settings = plugin_settings(config)
    if not _on(settings) or is_worker(config) or config.option.collectonly:
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


def header_lines(config: pytest.Config) -> list[str]:
    run = config.stash.get(_RUN, None)
    if run is None:
        return []
    lines = workers.header_lines(run.info, _xdist_workers(config), run.sources, run.server, run.claim.reaped)
    if run.built is not None:
        lines += [run.built.header_line(), *run.built.notes]
    return lines


def note_no_parallel(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A worker takes the tests' lock only if some collected test is marked no_parallel."""
    state = config.stash.get(_WORKER, None)
    if state is not None:  # every worker collects the whole suite, so each one knows
        state.needs_lock = any(item.get_closest_marker("no_parallel") for item in items)


@contextlib.contextmanager
def holding_test_lock(item: pytest.Item) -> Iterator[None]:
    """Around a test in a worker: shared, or alone for a no_parallel test (only when one is collected)."""
    state = item.config.stash.get(_WORKER, None)
    info = workers.run_info(item.config)
    if state is None or not state.needs_lock or info is None:
        yield
        return
    if state.lock is None:
        state.lock = workers.TestLock(info.admin_url, info.prefix, worker_id(item.config))
    alone = item.get_closest_marker("no_parallel") is not None
    state.lock.acquire(alone)
    try:
        yield
    finally:
        state.lock.release(alone)


def finish(config: pytest.Config) -> None:
    """Drop the run's databases and give back its claim and its use of the server (once)."""
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


def unconfigure(config: pytest.Config) -> None:
    finish(config)  # if the session ended before sessionfinish (an error at its start)
    state = config.stash.get(_WORKER, None)
    if state is not None and state.lock is not None:
        state.lock.close()
