"""Alembic migrations as the schema of the run's template (``lab_migrations = alembic.ini``).

The template is migrated with ``alembic upgrade head`` the two ways Alembic documents for a
program that runs its commands (cookbook: "Sharing a Connection across one or more
programmatic migration commands"): the template's own connection in
``config.attributes["connection"]``, and ``sqlalchemy.url`` set to the template's URL. An
``env.py`` that takes the connection migrates the template whatever the app's settings say; one
that runs its own event loop (``asyncio.run``, Alembic's async template) cannot use a connection
made in ours, so it gets a second try in a thread of its own, with the URL only.

While ``env.py`` runs, every SQLAlchemy connection to a database other than the template is
refused before it is opened: an ``env.py`` that insists on the app's URL stops the run with one
line naming the recipe above, and migrates nothing. Afterwards the template must hold Alembic's
version table (an ``env.py`` that connected some other way is caught there).

Alembic is optional: it is imported here only, and only when ``lab_migrations`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LabError

__all__ = ["RECIPE", "Migrations", "load", "reason", "drift", "describe_difference"]

RECIPE = ("the Alembic cookbook's 'Sharing a Connection across one or more programmatic migration commands' "
          "(env.py uses config.attributes['connection'] when it is set)")
_INSTALL = "pip install alembic"


def _alembic(setting: str) -> Any:
    """Alembic itself, or a one-line error naming what to install."""
    try:
        import alembic.command
        import alembic.config
        import alembic.script

        return alembic
    except ImportError:
        raise LabError(f"{setting} needs Alembic, which is not installed: {_INSTALL}") from None


def _is_package_resource(location: str) -> bool:
    """``myapp:migrations`` (Alembic's package form), not a path (``C:\\x`` on Windows is a path)."""
    return ":" in location and not Path(location).is_absolute() and not (len(location) > 1 and location[1] == ":")


@dataclass(frozen=True)
class Migrations:
    """One Alembic configuration file, and the setting that named it (for every message)."""

    config_file: Path
    setting: str  # "lab_migrations (ini lab_migrations)"

    def config(self, url: str | None = None) -> Any:
        """A fresh Alembic Config; a relative ``script_location`` is taken from the file's folder,
        as ``alembic`` run in that folder would; ``url`` becomes ``sqlalchemy.url``."""
        alembic = _alembic(self.setting)
        if self.config_file.suffix == ".toml":
            cfg = alembic.config.Config(toml_file=str(self.config_file), stdout=io.StringIO())
        else:
            cfg = alembic.config.Config(str(self.config_file), stdout=io.StringIO())
        location = cfg.get_alembic_option("script_location")
        if not location:
            raise LabError(f"{self.setting}: {self.config_file} has no script_location: name the folder of env.py "
                           "there (script_location = %(here)s/migrations)")
        if not _is_package_resource(location) and not Path(location).is_absolute():
            cfg.set_main_option("script_location", str(self.config_file.parent / location).replace("%", "%%"))
        if url is not None:
            cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return cfg

    def script(self) -> Any:
        """Alembic's ScriptDirectory: env.py and the revisions."""
        alembic = _alembic(self.setting)
        try:
            return alembic.script.ScriptDirectory.from_config(self.config())
        except alembic.util.CommandError as exc:
            raise LabError(f"{self.setting}: {exc}") from None

    def files(self) -> list[tuple[str, bytes]]:
        """env.py and every revision file, by path relative to the scripts' folder, with their bytes:
        what the template's hash covers."""
        script = self.script()
        root = Path(script.dir)
        paths = {Path(script.env_py_location)} | {Path(rev.path) for rev in script.walk_revisions()}
        return [(_relative(p, root), p.read_bytes()) for p in sorted(paths)]

    def digest(self) -> bytes:
        h = hashlib.sha256()
        for name, data in self.files():
            h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return h.digest()

    async def upgrade(self, url: str, engine_options: dict[str, Any] | None = None) -> None:
        """``alembic upgrade head`` on the template at ``url``, and nowhere else."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        database = make_url(url).database or ""
        engine = create_async_engine(url, poolclass=NullPool, **(engine_options or {}))
        try:
            with _only_connections_to(database, self.setting), _logging_kept(), _quiet():
                try:
                    async with engine.begin() as conn:
                        await conn.run_sync(self._upgrade_on, url)
                except RuntimeError as exc:
                    if not _needs_its_own_loop(exc):
                        raise
                    await asyncio.to_thread(self._upgrade_alone, url)
            async with engine.connect() as conn:
                found = await conn.run_sync(_has_version_table)
        except LabError:
            raise
        except Exception as exc:  # noqa: BLE001 - a migration failed: the server's words, one line
            why = reason(exc)
            if "greenlet_spawn has not been called" in why:  # a sync engine on the asyncpg URL it was handed
                why += f"; env.py made a sync engine from sqlalchemy.url: use the connection instead, {RECIPE}"
            raise LabError(f"{self.setting}: alembic upgrade head failed on the template: {why}") from None
        finally:
            await engine.dispose()
        if not found and self.script().get_heads():
            raise LabError(f"{self.setting}: alembic upgrade head finished, but the template {database!r} has no "
                           "alembic_version table: env.py migrated another database; make it use the connection "
                           f"the plugin hands it, {RECIPE}")

    def _upgrade_on(self, connection: Any, url: str) -> None:
        cfg = self.config(url)
        cfg.attributes["connection"] = connection
        _alembic(self.setting).command.upgrade(cfg, "head")

    def _upgrade_alone(self, url: str) -> None:
        _alembic(self.setting).command.upgrade(self.config(url), "head")


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # a version_locations folder outside the scripts' folder
        return path.resolve().as_posix()


def load(value: str, base: Path, setting: str) -> Migrations:
    """The Alembic configuration a setting names, relative to ``base`` (the config file's folder)."""
    _alembic(setting)
    path = (base / value).resolve()
    if not path.is_file():
        raise LabError(f"{setting}: there is no file {path}: name your alembic.ini (or a pyproject.toml with "
                       f"[tool.alembic]), relative to {base}")
    migrations = Migrations(path, setting)
    migrations.script()  # a missing scripts folder is one line now, not in the middle of the build
    return migrations


def _needs_its_own_loop(exc: RuntimeError) -> bool:
    """asyncio's refusal to start a loop inside a running one (env.py's ``asyncio.run``)."""
    text = str(exc)
    return "running event loop" in text or "already running" in text or "another loop is running" in text


def reason(exc: BaseException) -> str:
    """The server's (or Alembic's) first line, without SQLAlchemy's class prefix and background link."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    if text.startswith("<class '") and ">: " in text:
        text = text.split(">: ", 1)[1]
    return text


def _has_version_table(connection: Any) -> bool:
    from sqlalchemy import text

    return bool(connection.execute(text(
        "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'alembic_version' LIMIT 1")).scalar())


@contextlib.contextmanager
def _only_connections_to(database: str, setting: str) -> Iterator[None]:
    """Refuse, before it opens, every SQLAlchemy connection to a database other than ``database``."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def refuse_others(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        target = cparams.get("database", cparams.get("dbname"))
        if target is not None and target != database:
            raise LabError(
                f"{setting}: env.py connected to the database {target!r}, not to the template {database!r} the "
                "plugin handed it (it ignores config.attributes['connection'] and sqlalchemy.url, e.g. it reads "
                f"the app's settings); nothing was migrated there. Fix env.py with {RECIPE}")

    event.listen(Engine, "do_connect", refuse_others)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", refuse_others)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """What env.py and Alembic print (``Running upgrade ...``, to the console alembic.ini's logging
    names) stays out of the report: a failure is told in one line instead."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """env.py's ``fileConfig(alembic.ini)`` replaces the process's logging (and disables every
    logger it does not name): put it back, so the app's loggers and caplog work in the tests."""
    root = logging.getLogger()
    saved_root = (root.level, root.handlers[:])
    saved = {name: (lg.disabled, lg.level, lg.handlers[:], lg.propagate)
             for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    try:
        yield
    finally:
        root.setLevel(saved_root[0])
        root.handlers[:] = saved_root[1]
        for name, lg in list(logging.Logger.manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            if name in saved:
                lg.disabled, level, lg.handlers[:], lg.propagate = saved[name]
                lg.setLevel(level)
            else:  # made by env.py's logging config: quiet again, as before it existed
                lg.handlers.clear()
                lg.setLevel(logging.NOTSET)
                lg.propagate = True


# ---------------------------------------------------------------- migrations against lab_metadata


async def drift(url: str, metadata: Any, setting: str) -> list[str]:
    """One line per difference between the migrated template at ``url`` and ``metadata``
    (Alembic's ``compare_metadata``, with types compared); empty when they agree."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    _alembic(setting)
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(_compare, metadata)
    finally:
        await engine.dispose()
    return [describe_difference(d) for d in _flatten(diffs)]


def _compare(connection: Any, metadata: Any) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    schemas = {t.schema for t in metadata.tables.values()}
    opts: dict[str, Any] = {"compare_type": True}
    if schemas - {None}:
        opts["include_schemas"] = True
        opts["include_name"] = lambda name, kind, parent: kind != "schema" or name is None or name in schemas
    return list(compare_metadata(MigrationContext.configure(connection, opts=opts), metadata))


def _flatten(diffs: list[Any]) -> Iterator[tuple[Any, ...]]:
    for diff in diffs:
        if isinstance(diff, list):  # the changes of one column come as a list
            yield from diff
        else:
            yield diff


def _name(schema: str | None, table: str, column: str | None = None) -> str:
    return ".".join(p for p in (schema, table, column) if p)


def _sql_type(type_: Any) -> str:
    from sqlalchemy.dialects import postgresql

    try:
        return str(type_.compile(dialect=postgresql.dialect()))
    except Exception:  # noqa: BLE001 - a type PostgreSQL's compiler cannot render: its Python repr
        return repr(type_)


def _nullable(value: Any) -> str:
    return "nullable" if value else "NOT NULL"


def _table_of(obj: Any) -> str:
    table = getattr(obj, "table", None)
    return _name(getattr(table, "schema", None), getattr(table, "name", "?"))


def describe_difference(diff: tuple[Any, ...]) -> str:
    """One of ``compare_metadata``'s directives as a sentence: what the migrations build, what lab_metadata says."""
    kind = diff[0]
    where = {"add": "in lab_metadata, not in the migrations", "remove": "in the migrations, not in lab_metadata"}
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        return f"table {_name(table.schema, table.name)}: {where[kind.split('_')[0]]}"
    if kind in ("add_column", "remove_column"):
        _, schema, table, column = diff
        return f"column {_name(schema, table, column.name)}: {where[kind.split('_')[0]]}"
    if kind == "modify_type":
        _, schema, table, column, _kw, old, new = diff
        return (f"column {_name(schema, table, column)}: type {_sql_type(old)} in the migrations, "
                f"{_sql_type(new)} in lab_metadata")
    if kind == "modify_nullable":
        _, schema, table, column, _kw, old, new = diff
        return f"column {_name(schema, table, column)}: {_nullable(old)} in the migrations, {_nullable(new)} in lab_metadata"
    if kind in ("modify_default", "modify_comment"):
        _, schema, table, column, _kw, old, new = diff
        what = "server default" if kind == "modify_default" else "comment"
        return f"column {_name(schema, table, column)}: {what} {_text(old)} in the migrations, {_text(new)} in lab_metadata"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        obj = diff[1]
        label = {"index": "index", "constraint": "constraint", "fk": "foreign key"}[kind.split("_", 1)[1]]
        columns = ", ".join(c.name for c in getattr(obj, "columns", ())) or "?"
        named = f" {obj.name}" if getattr(obj, "name", None) else ""
        return f"{label}{named} on {_table_of(obj)} ({columns}): {where[kind.split('_')[0]]}"
    return f"{kind}: " + ", ".join(str(part) for part in diff[1:])


def _text(value: Any) -> str:
    arg = getattr(value, "arg", value)  # a DefaultClause holds its SQL in .arg
    return "none" if arg is None else repr(str(getattr(arg, "text", arg)))
