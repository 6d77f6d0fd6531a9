"""Every setting of the plugin, declared once: the fields of ``PluginSettings`` are the table.

Each field names one setting and carries its ``Spec``: its kind, its environment variable if
any, its default and its one-line help. From that table ``register`` adds every command-line
flag and ini option (the one ``pytest_addoption`` calls it), ``build`` reads them all once when
pytest configures the run, and ``markdown_table`` writes the table of docs/plugin.md (a test
checks that the document shows it). Every module reads a setting from ``plugin_settings(config)``,
never from pytest or the environment itself.

A setting is read in one order, first match wins: command-line flag, ini option, environment
variable, default; ``Setting.source`` says which one it was, for the report header and the
one-line errors. The values are read when pytest configures the run (after the conftest files
beside the configuration file are imported); what they name is resolved at use: ``env:VARIABLE``
reads that variable then, ``module:attribute`` imports it then (``options``).

Kinds: ``str``; ``path`` (relative to the configuration file's folder); ``url`` (a URL,
``env:VARIABLE`` or ``module:attribute`` naming one or an engine); ``object`` (``module:attribute``);
``list`` (several ``module:attribute``, separated by spaces); ``lines`` (one a line in the ini file,
one value as a flag); ``bool`` (``true``/``false``); ``switch`` (``true``, ``false`` or unset, each
meaning something); ``flag`` (command line only).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import pytest

__all__ = ["Setting", "Spec", "PluginSettings", "TABLE", "KINDS", "spec", "register", "build", "reread", "plugin_settings",
           "markdown_table"]

KINDS = ("str", "path", "url", "object", "list", "lines", "bool", "switch", "flag")
_BOOLS = ("bool", "flag")  # read as a Python bool; every other kind as a Setting
_GROUPS = {
    "app": ("labsupport-app", "labsupport: your app's session, rolled back after each test"),
    "guard": ("labsupport-guard", "labsupport guard (refuse to run tests against non-test databases)"),
    "workers": ("labsupport-workers", "labsupport: a database per pytest-xdist worker"),
}


@dataclass(frozen=True)
class Setting:
    value: str
    source: str  # "--lab-db-prefix", "ini lab_db_prefix", "env LAB_DB_PREFIX" or "default"


@dataclass(frozen=True)
class Spec:
    """One row of the table. ``help`` is markdown (docs/plugin.md); ``--help`` shows it without backticks."""

    name: str
    kind: str
    help: str
    env: str = ""
    default: str | Callable[[pytest.Config], str] = ""  # the value when nothing sets it
    shown: str = ""  # the default as the table says it, when that is not the value itself
    flag: bool = True  # a command-line flag --name-with-dashes
    ini: bool = True
    metavar: str = "VALUE"
    group: str = "app"

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.kind in _BOOLS:
            return "false"
        return f"`{self.default}`" if isinstance(self.default, str) and self.default else "none"


def _rootdir_prefix(config: pytest.Config) -> str:
    from .workers import default_prefix

    return default_prefix(config.rootpath)


def _s(kind: str, help: str, **spec: Any) -> Any:
    """A field of PluginSettings with its row of the table (the name is the field's)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if spec.get("env") and kind in _BOOLS:
        raise ValueError("a bool setting reads no environment variable")
    return field(metadata={"spec": dict(kind=kind, help=help, **spec)})


@dataclass(frozen=True)
class PluginSettings:
    """The run's settings (``build``), frozen; each field's metadata is its row of the table."""

    lab_app: Setting = _s(
        "object", "your FastAPI app, or a function that makes it", shown="none (or a `lab_app` fixture)")
    lab_session_dependency: Setting = _s(
        "object", "the dependency your routes take the database from (it yields an `AsyncSession`, an "
        "`async_sessionmaker` or an `AsyncConnection`, or returns an `AsyncEngine`)", shown="none (or a fixture)")
    lab_session_shape: Setting = _s(
        "str", "`session`, `sessionmaker`, `engine`, `connection` or `begin` (a connection from `engine.begin()`, "
        "committed when the request ends): what `lab_session_dependency` gives, when its return annotation "
        "does not tell", shown="from the annotation")
    lab_session_factory_targets: Setting = _s(
        "list", "module-level `async_sessionmaker`/`AsyncEngine` objects the app imports, separated by spaces; "
        "each test points them at its own connection")
    lab_container_providers: Setting = _s(
        "list", "a DI container's engine or session-factory providers (objects with `override()`, e.g. "
        "`app.main:container.engine`), separated by spaces; each test overrides them")
    lab_client_base_url: Setting = _s(
        "str", "`lab_client`'s base URL, for an app that checks its host", default="http://lab.test", flag=False)
    lab_run_lifespan: bool = _s(
        "bool", "`lab_client` runs the app's lifespan, startup and shutdown, around each test (needs "
        "asgi-lifespan)", flag=False)
    lab_engine_pool: Setting = _s(
        "str", "`auto` (pooled when the tests share the session loop, else NullPool), `pooled` or `nullpool`",
        default="auto", flag=False)
    lab_metadata: Setting = _s(
        "object", "`MetaData`, a declarative `Base`, or a callable(url) that builds the schema; turns the "
        "per-worker databases on (with `lab_migrations`: compared with them)", shown="off", metavar="SPEC",
        group="workers")
    lab_migrations: Setting = _s(
        "path", "alembic.ini (or pyproject.toml with `[tool.alembic]`) that builds the template with alembic "
        "upgrade head; turns the per-worker databases on", shown="off", metavar="FILE", group="workers")
    lab_migrations_drift: Setting = _s(
        "str", "with both `lab_migrations` and `lab_metadata`: `fail` or `warn` when they differ", default="fail",
        metavar="MODE", group="workers")
    lab_sql_before_schema: Setting = _s(
        "lines", "SQL run on the template before the schema, one statement a line, or `module:attribute` "
        "naming it", metavar="SQL", group="workers")
    lab_keep_template: bool = _s(
        "bool", "keep the template on the server between runs, under a hash of what builds it, reused while that "
        "is unchanged", group="workers")
    lab_rebuild_template: bool = _s(
        "flag", "build the kept template again even if it is unchanged", ini=False, group="workers")
    lab_server_url: Setting = _s(
        "url", "superuser URL of the server for the per-worker databases", env="LAB_SERVER_URL",
        shown="the lab's own server, if it runs or `lab_start_server = true`", metavar="SOURCE", group="workers")
    lab_db_prefix: Setting = _s(
        "str", "prefix of the run's databases, `<prefix>_gw0_test` …", env="LAB_DB_PREFIX", default=_rootdir_prefix,
        shown="the project folder's name", metavar="NAME", group="workers")
    lab_database_url: Setting = _s(
        "url", "one test database that already has the schema (without `lab_metadata`); the run stops before any "
        "test unless the server names it `*_test` or this run made it", env="LAB_TEST_DATABASE_URL")
    lab_guard_url: Setting = _s(
        "url", "the app's own database: the run stops at its start unless the server calls it a test database "
        "(name ending in `_test`) or it does not exist", shown="off", metavar="SOURCE", group="guard")
    lab_guard_engines: Setting = _s(
        "switch", "which engines refuse DROP, TRUNCATE, `drop_all`, DELETE without WHERE and `create_all` over "
        "data on non-test databases: unset, the plugin's (`lab_engine`, `lab_pooled_engine`, "
        "`lab_nullpool_engine`, `lab_joined_engine`); `true` (or the flag), every engine in the run; `false`, none",
        shown="the plugin's engines", group="guard")
    lab_start_server: bool = _s(
        "bool", "use the lab's own PostgreSQL for the whole run, started if needed (stopped at the end if the run "
        "started it and nothing else uses it)", flag=False)
    lab_server_home: Setting = _s(
        "path", "the lab server's state folder, relative to the configuration file, kept; `$LAB_HOME`, when set, "
        "wins", shown="`$XDG_STATE_HOME/isolation-lab/<project>-<hash>`, removed with a server started for the run",
        flag=False)


TABLE: tuple[Spec, ...] = tuple(Spec(name=f.name, **f.metadata["spec"]) for f in fields(PluginSettings))
_CONFIG = pytest.StashKey[PluginSettings]()


def spec(name: str) -> Spec:
    """The row of the setting ``name``."""
    return next(row for row in TABLE if row.name == name)


def _plain(text: str) -> str:
    return text.replace("`", "")


def register(parser: pytest.Parser) -> None:
    """Every flag and ini option of the table, each once."""
    for spec in TABLE:
        if spec.flag:
            group = parser.getgroup(*_GROUPS[spec.group])
            if spec.kind in ("bool", "flag", "switch"):
                group.addoption(spec.flag_name, dest=spec.name, action="store_true", default=None,
                                help=_plain(spec.help))
            else:
                group.addoption(spec.flag_name, dest=spec.name, metavar=spec.metavar, default=None,
                                help=_plain(spec.help))
        if spec.ini:
            if spec.kind == "bool":
                parser.addini(spec.name, type="bool", default=False, help=_plain(spec.help))
            elif spec.kind == "lines":
                parser.addini(spec.name, type="linelist", default=[], help=_plain(spec.help))
            else:
                parser.addini(spec.name, default="", help=_plain(spec.help))


def _read(config: pytest.Config, spec: Spec) -> Setting:
    """Flag, ini option, environment variable, default: the first that gives a value."""
    if spec.flag:
        flag = config.getoption(spec.name, None)
        if flag:
            return Setting(str(flag), spec.flag_name)
    if spec.ini:
        ini = config.getini(spec.name)
        text = "\n".join(str(line) for line in ini) if isinstance(ini, list) else str(ini or "")
        if text.strip():
            return Setting(text.strip(), f"ini {spec.name}")
    if spec.env and os.environ.get(spec.env, "").strip():
        return Setting(os.environ[spec.env].strip(), f"env {spec.env}")
    default = spec.default(config) if callable(spec.default) else spec.default
    return Setting(default, "default")


def _read_bool(config: pytest.Config, spec: Spec) -> bool:
    if spec.flag and config.getoption(spec.name, None):
        return True
    if not spec.ini:
        return False
    try:
        return bool(config.getini(spec.name))
    except (ValueError, pytest.UsageError):  # pytest's own "invalid truth value", without the option's name
        raise pytest.UsageError(f"labsupport: {spec.name} takes true or false: fix it in "
                                f"{config.inipath or 'the configuration file'}") from None


def build(config: pytest.Config) -> PluginSettings:
    """Read every setting of the table now."""
    values: dict[str, Any] = {spec.name: _read_bool(config, spec) if spec.kind in _BOOLS else _read(config, spec)
                              for spec in TABLE}
    return PluginSettings(**values)


def reread(config: pytest.Config) -> None:
    """Read them again once the session has started: a conftest's own ``pytest_sessionstart`` may set
    an environment variable (``LAB_TEST_DATABASE_URL`` for a database it has just made)."""
    config.stash[_CONFIG] = build(config)


def plugin_settings(config: pytest.Config) -> PluginSettings:
    """The run's settings: built at ``pytest_configure``, built again at the session's start (``reread``),
    the same object in between."""
    found = config.stash.get(_CONFIG, None)
    if found is None:
        found = config.stash[_CONFIG] = build(config)
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """docs/plugin.md's table of the settings, from ``TABLE``."""
    rows = ["| setting | flag | env | kind | what it is | default |", "|---|---|---|---|---|---|"]
    for spec in TABLE:
        name = f"`{spec.name}`" if spec.ini else ""
        flag = f"`{spec.flag_name}`" if spec.flag else ""
        env = f"`{spec.env}`" if spec.env else ""
        rows.append(f"| {name} | {flag} | {env} | {spec.kind} | {_cell(spec.help)} | {_cell(spec.default_text)} |")
    return "\n".join(rows) + "\n"
