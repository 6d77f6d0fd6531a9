"""A pytest plugin that stops a session at its start when the app's database is not a test database.

Enable it with ``-p labsupport.pytest_plugin.guard_hooks`` (labsupport's own ``pytest11`` plugin also loads
it, inert until configured) and say where the app's database URL comes from::

    [pytest]
    lab_guard_url = env:FLASHCARDS_DATABASE_URL   # or myapp.settings:database_url, or myapp.db:engine
    lab_guard_engines = true                      # also guard every SQLAlchemy engine in the run

(or ``--lab-guard-url SOURCE`` / ``--lab-guard-engines`` on the command line). At session start,
after conftest files had their say, the plugin resolves the URL, asks *the server* for
``current_database()`` and raises ``pytest.UsageError`` (exit status 4, no test run) unless the
name carries the test marker of ``labsupport.pytest_plugin.guard``. Settings are read by
``options.read`` (flag, then ini; ``env:`` and ``module:attribute`` values).
"""

from __future__ import annotations

import pytest

from .options import Setting, import_hint, read, resolve_url

__all__ = ["resolve_url"]  # re-exported: lesson 01's notebook shows it

PLUGIN = "labsupport.pytest_plugin.guard_hooks"
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


def _source(config: pytest.Config) -> Setting:
    """The app URL's source and where it was set; an empty value when the guard is not configured."""
    return read(config, "lab_guard_url")


def _engines(config: pytest.Config) -> bool:
    return bool(config.getoption("lab_guard_engines", None) or config.getini("lab_guard_engines"))


def _explicitly_enabled(config: pytest.Config) -> bool:
    return PLUGIN in (getattr(config.option, "plugins", None) or [])


def pytest_configure(config: pytest.Config) -> None:
    if _engines(config):
        from . import guard

        guard.protect_all()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _engines(config):
        from . import guard

        guard.unprotect_all()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    setting = _source(config)
    lines = []
    if setting.value:
        from ..urls import redact

        shown = redact(setting.value) if "://" in setting.value else setting.value
        lines.append(f"labsupport guard: app database from {shown} ({setting.source}) must be a test database")
    if _engines(config):
        lines.append("labsupport guard: every SQLAlchemy engine refuses destructive SQL on non-test databases")
    return lines or None


def _say(config: pytest.Config, line: str) -> None:
    """One line beside the report header (the check runs at session start, after the header is written)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not config.option.collectonly:
        reporter.write_line(line)


@pytest.hookimpl(trylast=True)  # after conftest files made and named their test database
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    setting = _source(config)
    source = setting.value
    if not source:
        if _explicitly_enabled(config) and not _engines(config):
            raise pytest.UsageError(
                f"{PLUGIN} is enabled but has nothing to check: name the app's database URL with "
                "--lab-guard-url env:YOUR_URL_VARIABLE (or the ini option lab_guard_url)")
        return
    from .. import urls
    from ..connection import MissingDatabaseError, run_sync
    from ..errors import LabError
    from . import guard

    try:
        url = resolve_url(source, "lab_guard_url", setting.source, import_hint(config))
        name = run_sync(guard.current_database(url))
    except MissingDatabaseError:
        _say(config, f"labsupport guard: the app's database ({urls.redact(url)}) does not exist, so nothing there "
                     "can be destroyed; the tests go on (with lab_guard_engines = true, destructive SQL on a "
                     "database not named *_test is still refused at run time)")
        return
    except LabError as exc:
        raise pytest.UsageError(f"labsupport guard: {exc}") from None
    _say(config, f"labsupport guard: the app's database is {name!r} according to the server: a test database")
    if not guard.is_test_database(name):
        shown = urls.redact(source) if "://" in source else source
        raise pytest.UsageError(
            f"labsupport guard: the app's database ({shown}) is {name!r} according to the server, and that is "
            f"not a test database (its name does not end in {guard.MARKER!r}); no test ran. Point the app at "
            f"a test database before it is imported, e.g. {(name.strip() or 'app') + guard.MARKER!r}"
        )
