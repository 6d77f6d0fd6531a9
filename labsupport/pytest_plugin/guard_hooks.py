"""The guard's part of the plugin's hooks: stop a session at its start when a database the tests
would destroy data in is not a test database, and guard the plugin's engines while the tests run.

``hooks`` calls these functions in every run; naming this module with ``-p
labsupport.pytest_plugin.guard_hooks`` says the guard must have an app database to check (the
session stops, saying which setting to add, when none is set). What it does, each part checked
with *the server* (``current_database()``) against the test marker of ``labsupport.pytest_plugin.guard``:

1. **The test database** (``lab_database_url``, else ``LAB_TEST_DATABASE_URL``; on by itself): it
   must be a database whose name ends in ``_test``, or one this run created (its owner mark names
   this process or the owner a parent handed down, as a lesson does for the suites it runs). Else
   ``pytest.UsageError`` (exit status 4) before any test, and nothing in it is touched. Not checked
   when ``lab_metadata`` gives each worker its own database, or a ``lab_database_url`` fixture of
   your own replaces the setting; a URL that cannot be reached is left to the fixture's own message.
2. **The app's database** (``lab_guard_url``, off until set)::

       [pytest]
       lab_guard_url = env:FLASHCARDS_DATABASE_URL   # or myapp.settings:database_url, or myapp.db:engine

   the same rule, except that a database that does not exist lets the run go on (one line says so).
3. **Engines** (``lab_guard_engines``): unset, the plugin's own engines (``lab_engine``,
   ``lab_pooled_engine``, ``lab_nullpool_engine``, ``lab_joined_engine``) refuse DROP, TRUNCATE,
   ``drop_all``, DELETE without WHERE and ``create_all`` over data on a database that is not a test
   database; ``true`` (or ``--lab-guard-engines``) guards every SQLAlchemy engine in the run, your
   app's included; ``false`` guards none.

The settings are in ``settings_table``; ``env:`` and ``module:attribute`` values are resolved here, at use.
"""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from ..errors import LabError
from .options import import_hint, is_worker, resolve_url
from .settings_table import Setting, plugin_settings

__all__ = ["resolve_url", "configure", "unconfigure", "protect_plugin_engine", "header_lines", "refuse_early",
           "check_session"]  # resolve_url re-exported: lesson 01's notebook shows it

PLUGIN = "labsupport.pytest_plugin.guard_hooks"


def _source(config: pytest.Config) -> Setting:
    """The app URL's source and where it was set; an empty value when the guard is not configured."""
    return plugin_settings(config).lab_guard_url


PLUGIN_ENGINES = ("lab_pooled_engine", "lab_nullpool_engine", "lab_joined_engine")  # lab_engine is one of the first two
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _engines(config: pytest.Config) -> str:
    """Which engines are guarded: "all" (every engine in the run), "plugin" (the default) or "off"."""
    value = plugin_settings(config).lab_guard_engines.value.strip().lower()
    if not value:
        return "plugin"
    if value in _TRUE:
        return "all"
    if value in _FALSE:
        return "off"
    raise pytest.UsageError(f"labsupport guard: lab_guard_engines is {value!r}: write true (every engine in the "
                            "run), false (none), or leave it out (the plugin's own engines)")


def _explicitly_enabled(config: pytest.Config) -> bool:
    return PLUGIN in (getattr(config.option, "plugins", None) or [])


def configure(config: pytest.Config) -> None:
    """``lab_guard_engines = true``: every engine of the run is guarded from now on (a bad value: UsageError)."""
    if _engines(config) == "all":
        from . import guard

        guard.protect_all()


def unconfigure(config: pytest.Config) -> None:
    if _engines(config) == "all":
        from . import guard

        guard.unprotect_all()


def protect_plugin_engine(name: str, value: Any, config: pytest.Config) -> None:
    """The plugin's engines are guarded as they are made, unless lab_guard_engines = false."""
    if name in PLUGIN_ENGINES and _engines(config) == "plugin":
        _protect_postgres(value)


def _protect_postgres(engine: Any) -> None:
    from sqlalchemy.engine import Engine

    from . import guard

    sync = getattr(engine, "sync_engine", engine)
    if isinstance(sync, Engine) and sync.dialect.name == "postgresql":  # an override may give something else
        guard.protect(engine)


def header_lines(config: pytest.Config) -> list[str]:
    setting = _source(config)
    lines = []
    if setting.value:
        from ..urls import redact

        shown = redact(setting.value) if "://" in setting.value else setting.value
        lines.append(f"labsupport guard: app database from {shown} ({setting.source}) must be a test database; "
                     "the guard asks the server with that URL and its credentials")
    engines = _engines(config)
    if engines == "all":
        lines.append("labsupport guard: every SQLAlchemy engine refuses destructive SQL on non-test databases")
    elif engines == "off":
        lines.append("labsupport guard: off for engines (lab_guard_engines = false): nothing refuses destructive "
                     "SQL on non-test databases")
    return lines


def _say(config: pytest.Config, line: str) -> None:
    """One line beside the report header (the check runs at session start, after the header is written)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not config.option.collectonly:
        reporter.write_line(line)


def refuse_early(config: pytest.Config) -> None:
    """Before the plugin starts a server: stop the run now if the app's database is a database the
    server names and that is not a test database. A database or server not there yet is left to the
    check at the session's start, which runs again once the server is up."""
    setting = _source(config)
    if not setting.value or is_worker(config):
        return
    from ..connection import run_sync
    from . import guard

    try:
        url = resolve_url(setting.value, "lab_guard_url", setting.source, import_hint(config))
        name = run_sync(guard.current_database(url))
    except LabError:
        return
    if not guard.is_test_database(name):
        _refuse(setting.value, url, name)


def _refuse(source: str, url: str, name: str) -> NoReturn:
    from .. import urls
    from . import guard

    shown = urls.redact(source) if "://" in source else source
    unnamed = "" if urls.parse(url).database else (", the database PostgreSQL picks when a URL names none (the "
                                                  "user's own)")
    raise pytest.UsageError(
        f"labsupport guard: the app's database ({shown}) is {name!r} according to the server{unnamed}, and that "
        f"is not a test database (its name does not end in {guard.MARKER!r}); no test ran. Point the app at "
        f"a test database before it is imported, e.g. {(name.strip() or 'app') + guard.MARKER!r}"
    )


def check_session(session: pytest.Session) -> None:
    """At the session's start, after conftest files made and named their test database: the test
    database, then the app's; a database that is not a test database stops the run (UsageError)."""
    config = session.config
    _check_test_database(session)
    setting = _source(config)
    source = setting.value
    if not source:
        if _explicitly_enabled(config) and _engines(config) != "all":
            raise pytest.UsageError(
                f"{PLUGIN} is enabled but has no app database to check: name the app's database URL with "
                "--lab-guard-url env:YOUR_URL_VARIABLE (or the ini option lab_guard_url)")
        return
    from .. import urls
    from ..connection import MissingDatabaseError, NoServerError, run_sync
    from . import guard

    still = ("the tests go on (destructive SQL on a database not named *_test is still refused at run time by the "
             "guarded engines)")
    try:
        url = resolve_url(source, "lab_guard_url", setting.source, import_hint(config))
        name = run_sync(guard.current_database(url))
    except MissingDatabaseError:
        _say(config, f"labsupport guard: the app's database ({urls.redact(url)}) does not exist, so nothing there "
                     f"can be destroyed; {still}")
        return
    except NoServerError as exc:
        _say(config, f"labsupport guard: no server answers for the app's database ({exc}), so nothing there can "
                     f"be destroyed; {still}")
        return
    except LabError as exc:
        raise pytest.UsageError(f"labsupport guard: {exc} (the guard connects with the app's own URL and "
                                "credentials to ask the server the database's name)") from None
    if guard.is_test_database(name):
        _say(config, f"labsupport guard: the app's database is {name!r} according to the server, a test "
                     "database; the tests go on")
        return
    _refuse(source, url, name)


# ---------------------------------------------------------------- the test database (lab_database_url)


def _replaced(session: pytest.Session) -> bool:
    """True when a fixture of your own named lab_database_url (conftest.py) or the per-worker
    databases (lab_metadata) replace the setting: then its URL is not what the tests use."""
    if plugin_settings(session.config).lab_metadata.value:
        return True
    defs = getattr(session, "_fixturemanager", None)
    found = getattr(defs, "_arg2fixturedefs", {}).get("lab_database_url", ())
    return any(not str(getattr(d.func, "__module__", "")).startswith("labsupport.pytest_plugin") for d in found)


def _check_test_database(session: pytest.Session) -> None:
    """Stop the run before any test unless the test database is one: named *_test, or made by this run."""
    from .transactional import URL_ENV

    config = session.config
    setting = plugin_settings(config).lab_database_url
    if not setting.value or is_worker(config) or config.option.collectonly or _replaced(session):
        return
    from .. import urls
    from ..connection import run_sync
    from . import guard

    what = URL_ENV if setting.source == f"env {URL_ENV}" else f"lab_database_url ({setting.source})"
    try:
        url = resolve_url(setting.value, "lab_database_url", setting.source, import_hint(config))
        name, comment = run_sync(guard.database_identity(url, what))
    except LabError:
        return  # a URL that cannot be read or reached: the lab_database_url fixture says so in one line
    if guard.is_test_database(name) or guard.made_by_this_run(comment):
        return
    raise pytest.UsageError(
        f"labsupport guard: {what} ({urls.redact(url)}) names the database {name!r} according to the server, and "
        f"that is not a test database: its name does not end in {guard.MARKER!r} and this run did not create it; "
        f"no test ran and nothing in it was touched. Point {what} at a test database, e.g. "
        f"{(name.strip() or 'app') + guard.MARKER!r} cloned from a template, or set lab_metadata for a database "
        "per worker")
