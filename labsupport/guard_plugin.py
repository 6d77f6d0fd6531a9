"""A pytest plugin that stops a session at its start when the app's database is not a test database.

Enable it with ``-p labsupport.guard_plugin`` (labsupport's own ``pytest11`` plugin also loads
it, inert until configured) and say where the app's database URL comes from::

    [pytest]
    lab_guard_url = env:FLASHCARDS_DATABASE_URL   # or myapp.settings:database_url, or myapp.db:engine
    lab_guard_engines = true                      # also guard every SQLAlchemy engine in the run

(or ``--lab-guard-url SOURCE`` / ``--lab-guard-engines`` on the command line). At session start,
after conftest files had their say, the plugin resolves the URL, asks *the server* for
``current_database()`` and raises ``pytest.UsageError`` (exit status 4, no test run) unless the
name carries the test marker of ``labsupport.guard``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

__all__ = ["resolve_url"]

PLUGIN = "labsupport.guard_plugin"
_HELP_SOURCE = ("where the app's database URL comes from: env:VARIABLE, module:attribute (a URL, a callable "
                "returning one, or an engine) or a URL; the session stops at its start unless the server "
                "calls that database a test database (name ending in _test)")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("labsupport-guard", "labsupport guard (refuse to run tests against non-test databases)")
    group.addoption("--lab-guard-url", dest="lab_guard_url", default=None, metavar="SOURCE", help=_HELP_SOURCE)
    group.addoption("--lab-guard-engines", dest="lab_guard_engines", action="store_true", default=None,
                    help="every SQLAlchemy engine in this run refuses DROP, TRUNCATE, drop_all and create_all "
                         "over data on databases the server does not call test databases")
    parser.addini("lab_guard_url", help=_HELP_SOURCE, default="")
    parser.addini("lab_guard_engines", type="bool", default=False,
                  help="guard every SQLAlchemy engine in this run (see --lab-guard-engines)")


def _source(config: pytest.Config) -> tuple[str, str]:
    """(source, where it was set) of the app's URL; empty when the guard is not configured."""
    flag = config.getoption("lab_guard_url", None)
    if flag:
        return str(flag), "--lab-guard-url"
    ini = str(config.getini("lab_guard_url") or "").strip()
    return (ini, "ini lab_guard_url") if ini else ("", "")


def _engines(config: pytest.Config) -> bool:
    return bool(config.getoption("lab_guard_engines", None) or config.getini("lab_guard_engines"))


def _explicitly_enabled(config: pytest.Config) -> bool:
    return PLUGIN in (getattr(config.option, "plugins", None) or [])


def resolve_url(source: str) -> str:
    """The URL a source names: ``env:VAR``, ``pkg.module:attr`` (URL, callable or engine), or a URL itself."""
    from sqlalchemy.engine import URL

    from .config import import_object
    from .errors import LabError

    if source.startswith("env:"):
        var = source[4:]
        value = os.environ.get(var)
        if not value:
            raise LabError(f"{var} is not set, so there is no app database to check: set it, or fix lab_guard_url")
        return value
    if "://" in source:
        return source
    if ":" not in source:
        raise LabError(f"lab_guard_url {source!r} is not env:VARIABLE, module:attribute or a URL")
    obj: Any = import_object(source, "lab_guard_url", "flashcards.db:engine")
    engine = getattr(obj, "sync_engine", obj)
    if hasattr(engine, "url") and hasattr(engine, "dialect"):
        obj = engine.url
    elif callable(obj) and not isinstance(obj, URL):
        obj = obj()
    if isinstance(obj, URL):
        return obj.render_as_string(hide_password=False)
    if isinstance(obj, str) and obj:
        return obj
    raise LabError(f"lab_guard_url {source!r} gave {type(obj).__name__}, not a database URL or an engine")


def pytest_configure(config: pytest.Config) -> None:
    if _engines(config):
        from . import guard

        guard.protect_all()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _engines(config):
        from . import guard

        guard.unprotect_all()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    source, where = _source(config)
    lines = []
    if source:
        from .urls import redact

        shown = redact(source) if "://" in source else source
        lines.append(f"labsupport guard: app database from {shown} ({where}) must be a test database")
    if _engines(config):
        lines.append("labsupport guard: every SQLAlchemy engine refuses destructive SQL on non-test databases")
    return lines or None


@pytest.hookimpl(trylast=True)  # after conftest files made and named their test database
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    source, _ = _source(config)
    if not source:
        if _explicitly_enabled(config) and not _engines(config):
            raise pytest.UsageError(
                f"{PLUGIN} is enabled but has nothing to check: name the app's database URL with "
                "--lab-guard-url env:YOUR_URL_VARIABLE (or the ini option lab_guard_url)")
        return
    from . import guard, urls
    from .connection import run_sync
    from .errors import LabError

    try:
        url = resolve_url(source)
        name = run_sync(guard.current_database(url))
    except LabError as exc:
        raise pytest.UsageError(f"labsupport guard: {exc}") from None
    if not guard.is_test_database(name):
        shown = urls.redact(source) if "://" in source else source
        raise pytest.UsageError(
            f"labsupport guard: the app's database ({shown}) is {name!r} according to the server, and that is "
            f"not a test database (its name does not end in {guard.MARKER!r}); no test ran. Point the app at "
            f"a test database before it is imported, e.g. {(name.strip() or 'app') + guard.MARKER!r}"
        )
