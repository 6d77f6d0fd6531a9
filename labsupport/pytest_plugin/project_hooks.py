"""The settings that adopt a project's app, and the report header lines that describe the run.

labsupport's plugin loads this module in every run. Settings (flag or ini option; each value a
literal, ``env:VARIABLE`` or ``module:attribute``), read by ``options.read``::

    lab_app                       app.main:app                  the FastAPI app (or a create_app function)
    lab_session_dependency        app.db:get_session            the dependency the routes take the database from
    lab_session_shape             session                       only if the plugin cannot tell from the dependency
    lab_session_factory_targets   app.db:async_session_maker    module-level factories or engines the app imports
    lab_container_providers       app.main:container.engine     a DI container's engine (or factory) providers
    lab_database_url              env:TEST_DATABASE_URL         a test database that has the schema (else lab_metadata)
    lab_run_lifespan              true                          lab_client runs the app's lifespan
    lab_client_base_url           http://api.example.test       lab_client's base URL (default http://lab.test)
    lab_engine_pool               auto                          pooled, nullpool or auto (the default)

The header says which configuration file pytest read (and, in one line, when a ``pytest.ini``
hides pyproject.toml's pytest table), where the app and its dependency come from, and which
engine ``lab_engine`` is.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from . import engines
from .options import config_file_note, is_worker, read

SETTINGS = {
    "lab_app": "the FastAPI app, module:attribute (an app or a function that makes one)",
    "lab_session_dependency": "the dependency your routes take their database from, module:attribute "
                              "(yields an AsyncSession, an async_sessionmaker, an AsyncConnection, or returns an AsyncEngine)",
    "lab_session_shape": "session, sessionmaker, engine, connection or begin (a connection from engine.begin(), "
                         "committed when the request ends): what lab_session_dependency gives, when its return "
                         "annotation does not tell",
    "lab_session_factory_targets": "module-level async_sessionmaker or AsyncEngine objects the app imports directly, "
                                   "module:attribute, several separated by spaces; each test points them at its "
                                   "own connection",
    "lab_container_providers": "providers of a dependency-injection container that give the app its AsyncEngine "
                               "or async_sessionmaker, module:attribute (an object with override(), e.g. "
                               "dependency-injector's app.main:container.engine), several separated by spaces; "
                               "each test overrides them with lab_joined_engine or lab_session_factory",
    "lab_database_url": "the test database (URL, env:VARIABLE or module:attribute) when lab_metadata is not set; "
                        "default $LAB_TEST_DATABASE_URL",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labsupport-app", "labsupport: your app's session, rolled back after each test")
    for name, text in SETTINGS.items():
        group.addoption("--" + name.replace("_", "-"), dest=name, default=None, metavar="VALUE", help=text)
        parser.addini(name, default="", help=text)
    parser.addini("lab_run_lifespan", type="bool", default=False,
                  help="lab_client runs the app's lifespan (startup, shutdown) around each test (asgi-lifespan)")
    parser.addini("lab_client_base_url", default="",
                  help="lab_client's base URL, for an app that checks its host (default http://lab.test)")
    parser.addini("lab_engine_pool", default="auto",
                  help="lab_engine: auto (pooled when the tests share the session loop, else NullPool), "
                       "pooled or nullpool")


def _app_line(config: pytest.Config) -> str | None:
    parts = []
    for name in ("lab_app", "lab_session_dependency", "lab_session_shape", "lab_session_factory_targets",
                 "lab_container_providers"):
        setting = read(config, name)
        if setting.value:
            parts.append(f"{name} {setting.value} ({setting.source})")
    return "labsupport app: " + "; ".join(parts) if parts else None


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"labsupport config: {config.inipath or 'no configuration file'}"]
    note = config_file_note(config)
    if note:
        lines.append(note)
    app = _app_line(config)
    if app:
        lines.append(app)
    lines.append(engines.choose(config).line())
    return lines


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter asks for pytest_report_collectionfinish
def pytest_collection_finish(session: pytest.Session) -> None:
    """Each process decides lab_engine's pool from the tests it will run (after -k, -m and other
    deselection), before any fixture runs."""
    session.config.stash[engines.POOLED] = engines.choose(session.config, session.items)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    """A second line only when the selected tests changed the header's choice (xdist: see below)."""
    before, after = engines.choose(config), config.stash.get(engines.POOLED, None)
    if after is None or is_worker(config) or after.pooled == before.pooled:
        return None
    return [after.line()]


_TOLD = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """An xdist worker puts its lab_engine choice on its first report: the controller collects no
    tests, so this is how it learns what the workers chose."""
    report = yield
    config = item.config
    if is_worker(config) and not config.stash.get(_TOLD, False):
        config.stash[_TOLD] = True
        choice = config.stash.get(engines.POOLED, None)
        if choice is not None:
            setattr(report, "lab_engine_line", choice.line())  # noqa: B010 - extra fields travel with the report
            setattr(report, "lab_engine_pooled", choice.pooled)  # noqa: B010  # a report attribute of the lab's own; xdist carries it to the controller
    return report


class _WorkersChoice:
    """Registered in the controller of an xdist run, which collects no tests itself: one correction
    line when the workers' lab_engine choice differs from the header's, decided before collection."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.told = False

    @pytest.hookimpl(tryfirst=True)  # before the progress character of that first report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        pooled = getattr(report, "lab_engine_pooled", None)
        if pooled is None or self.told:
            return
        self.told = True
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if pooled != engines.choose(self.config).pooled and reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(f"{report.lab_engine_line}, in every worker (the header's line was decided "
                                "before collection)")


def pytest_configure(config: pytest.Config) -> None:
    if not is_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_WorkersChoice(config), "labsupport-workers-choice")
