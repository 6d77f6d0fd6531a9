"""The run's template: what builds it, its hash, and keeping it on the server between runs.

A template is built in three steps, each optional: the SQL before the schema
(``lab_sql_before_schema``: schemas, extensions), then the schema itself, from the migrations
(``lab_migrations``) or else from ``lab_metadata`` (``create_all`` or your callable(url)). With
both migrations and ``lab_metadata``, the metadata is compared with the migrated template
(``lab_migrations_drift``).

Kept between runs (``lab_keep_template = true``), the template is named after a hash of what
builds it: the SQL statements, the migration files' bytes (env.py and every revision), and
``lab_metadata``'s DDL as compiled for PostgreSQL (for a callable, its module's source). An
unchanged hash reuses it; any change builds a new one, ``--lab-rebuild-template`` forces that.
Safe by construction:

- it is built under the run's own ``<prefix>_template_test`` (marked with this process as its
  owner, so a killed build is reaped) and renamed to ``<prefix>_tpl_<hash>_test`` only when
  complete, in the same transaction that marks it as a kept template, so no run ever clones a
  half-built one; one run per prefix at a time holds the prefix's lock while it does this;
- its comment starts with the lab's mark (``owners.MARK + "template <hash>"``) but names no
  process, so reaping (which drops marked databases whose owner is gone) never drops it, and the
  lab may drop it when outdated; a database of that name without that comment is never touched.

A failure at any step is one line naming the step's setting (and the statement), and leaves no
template behind.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .. import databases, owners, schema, urls
from ..connection import connect, run_sync
from ..errors import LabError
from ..settings import import_object
from .migrations import Migrations, drift, reason
from .options import config_folder, expand, import_hint
from .settings_table import PluginSettings

__all__ = ["KEPT", "DRIFT_MODES", "kept_name", "kept_comment", "Recipe", "Template", "load_statements",
           "prepare", "drift_mode", "drift_message", "drift_header", "from_settings", "for_run", "keeps"]

KEPT = "tpl"
DRIFT_MODES = ("fail", "warn")
_VERSION = b"labsupport template 1"  # a change in how templates are built changes every hash
_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_SCHEMA_HINT = ("; if the schema needs a PostgreSQL schema or an extension first, create them with "
                "lab_sql_before_schema (e.g. CREATE SCHEMA billing, CREATE EXTENSION citext)")


def kept_name(prefix: str, digest: str) -> str:
    """``<prefix>_tpl_<12 hex>_test``: at most 62 bytes for the longest prefix, *_test for lesson 01's guard."""
    return databases.validate_name(f"{databases.validate_prefix(prefix)}_{KEPT}_{digest}_test")


def kept_comment(digest: str) -> str:
    """The lab's mark, then no owner: the reaper passes it by; the lab may drop it (it made it)."""
    return f"{owners.MARK}template {digest}"


# ---------------------------------------------------------------- SQL before the schema


def load_statements(lines: list[str], setting: str, hint: str = "") -> tuple[str, ...]:
    """Statements, one a line (a trailing ``;`` is dropped), or one ``module:attribute`` line naming
    a string, a list of strings or a callable returning either (called with no arguments)."""
    lines = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("--")]
    if len(lines) == 1 and _SPEC.fullmatch(lines[0]):
        obj = import_object(lines[0], "lab_sql_before_schema", "app.db:SCHEMA_SQL", hint=hint)
        if callable(obj):
            obj = obj()
        if isinstance(obj, str):
            obj = [obj]
        if not isinstance(obj, (list, tuple)) or not all(isinstance(s, str) for s in obj):
            raise LabError(f"{setting} {lines[0]!r} gave {type(obj).__name__}, not SQL: name a string, a list of "
                           "statements or a function returning one")
        lines = [s.strip() for s in obj if s.strip()]
    return tuple(s.rstrip(";").strip() for s in lines)


# ---------------------------------------------------------------- what builds it


def _source_digest(obj: Any) -> bytes:
    """A callable's module source (what a rebuild depends on, as far as the lab can see), and its name."""
    try:
        source = Path(inspect.getsourcefile(obj) or "").read_bytes()
    except (OSError, TypeError):
        source = b""
    name = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
    return hashlib.sha256(name.encode() + b"\0" + source).digest()


@dataclass(frozen=True)
class Recipe:
    """What builds the template, each with the setting that named it."""

    statements: tuple[str, ...] = ()
    statements_setting: str = "lab_sql_before_schema"
    migrations: Migrations | None = None
    metadata: Any = None  # a MetaData or a callable(url)
    metadata_setting: str = "lab_metadata"
    drift_mode: str = "fail"

    def digest(self) -> str:
        """12 hex digits of a hash of everything that decides what the template holds."""
        from sqlalchemy import MetaData

        h = hashlib.sha256(_VERSION)
        for statement in self.statements:
            h.update(b"sql\0" + statement.encode() + b"\0")
        if self.migrations is not None:
            h.update(b"migrations\0" + self.migrations.digest())
        elif isinstance(self.metadata, MetaData):
            for statement in schema.ddl(self.metadata):
                h.update(b"ddl\0" + statement.encode() + b"\0")
        elif self.metadata is not None:
            h.update(b"callable\0" + _source_digest(self.metadata))
        return h.hexdigest()[:12]

    def steps(self) -> str:
        parts = []
        if self.statements:
            parts.append(f"{len(self.statements)} SQL statement(s) before the schema")
        if self.migrations is not None:
            parts.append(f"alembic upgrade head ({self.migrations.config_file.name})")
        elif self.metadata is not None:
            parts.append("lab_metadata")
        return " + ".join(parts) or "nothing"

    async def build(self, url: str, engine_options: dict[str, Any]) -> None:
        """Each step on the template at ``url``; a failure is one LabError naming its setting."""
        if self.statements:
            try:
                await schema.run_statements(url, self.statements)
            except schema.StatementFailed as exc:
                raise LabError(f"{self.statements_setting}: statement {exc.index + 1} of {len(self.statements)} "
                               f"({exc.statement!r}) failed on the template: {exc.reason}; the template was "
                               "dropped, fix that statement") from None
        if self.migrations is not None:
            await self.migrations.upgrade(url, engine_options)
        elif self.metadata is not None:
            try:
                await schema.build(url, self.metadata, **engine_options)
            except LabError:
                raise
            except Exception as exc:  # noqa: BLE001 - the project's own models: its words, one line
                raise LabError(f"{self.metadata_setting}: building the schema on the template failed: "
                               f"{reason(exc)}; the template was dropped{_SCHEMA_HINT}") from None

    def compares(self) -> bool:
        """Migrations build the template and lab_metadata is there to be compared with them."""
        return self.migrations is not None and self.metadata is not None

    async def drift(self, url: str) -> list[str]:
        """With migrations and a MetaData: one line per difference; otherwise nothing to compare."""
        from sqlalchemy import MetaData

        if self.migrations is None or not self.compares():
            return []
        if not isinstance(self.metadata, MetaData):
            raise LabError(f"{self.metadata_setting} is a callable, and with lab_migrations it is only compared with "
                           "the migrations: name a MetaData or a Base, or unset one of the two")
        return await drift(url, self.metadata, self.migrations.setting)


# ---------------------------------------------------------------- building, keeping, reusing


@dataclass
class Template:
    """The template a run clones, and how it came to be (for the report header)."""

    name: str
    digest: str
    reused: bool
    kept: bool
    ms: float
    steps: str
    drift: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # outdated kept templates of the prefix
    notes: list[str] = field(default_factory=list)  # header lines of the comparison with lab_metadata

    def header_line(self) -> str:
        if self.reused:
            return (f"labsupport workers: template reused (hash {self.digest}): {self.name}, unchanged since it was "
                    f"built ({self.steps}; checked in {self.ms:.0f} ms; --lab-rebuild-template builds it again)")
        kept = (f"kept as {self.name} for the next run" if self.kept
                else "dropped at the end; lab_keep_template = true keeps it between runs")
        line = f"labsupport workers: template built in {self.ms:.0f} ms (hash {self.digest}; {self.steps}; {kept})"
        if self.dropped:
            line += f"; removed the outdated {', '.join(self.dropped)}"
        return line


async def _comment(admin_url: str, name: str) -> str | None:
    """The database's comment ('' if none), or None if there is no such database."""
    conn = await connect(admin_url)
    try:
        row = await conn.fetchrow("SELECT shobj_description(oid, 'pg_database') AS c FROM pg_database "
                                  "WHERE datname = $1", name)
        return None if row is None else (row["c"] or "")
    finally:
        await conn.close()


async def _build(admin_url: str, name: str, recipe: Recipe, engine_options: dict[str, Any]) -> str:
    """Create ``name`` (marked as this process's) and build it; dropped again if any step fails."""
    await databases.create(admin_url, name, replace=True)
    try:
        await recipe.build(urls.with_database(admin_url, name), engine_options)
    except BaseException:
        await databases.drop(admin_url, name)
        raise
    return name


async def _promote(admin_url: str, built: str, name: str, digest: str) -> None:
    """Mark ``built`` as the kept template and give it its kept name, in one transaction."""
    conn = await connect(admin_url)
    try:
        await databases.terminate_sessions(conn, built)
        await conn.execute("SET synchronous_commit TO on")  # the mark must survive a killed server
        async with conn.transaction():
            await conn.execute(f"COMMENT ON DATABASE {databases.quote(built)} IS '{kept_comment(digest)}'")
            await conn.execute(f"ALTER DATABASE {databases.quote(built)} RENAME TO {databases.quote(name)}")
    finally:
        await conn.close()


async def _outdated(admin_url: str, prefix: str, current: str) -> list[str]:
    """The prefix's other kept templates: named ``<prefix>_tpl_<hash>_test`` and marked as kept."""
    pattern = re.compile(rf"{re.escape(prefix)}_{KEPT}_[0-9a-f]{{12}}_test")
    conn = await connect(admin_url)
    try:
        rows = await conn.fetch("SELECT datname, shobj_description(oid, 'pg_database') AS c FROM pg_database "
                                "WHERE datname LIKE $1 ORDER BY 1", databases.like_prefix(prefix))
    finally:
        await conn.close()
    return [r["datname"] for r in rows if r["datname"] != current and pattern.fullmatch(r["datname"])
            and (r["c"] or "").startswith(f"{owners.MARK}template ")]


async def prepare(admin_url: str, prefix: str, building: str, recipe: Recipe, engine_options: dict[str, Any], *,
                  keep: bool, rebuild: bool) -> Template:
    """The template this run's workers clone: built under ``building`` (the run's own
    ``<prefix>_template_test``), or, kept, reused or built and renamed to its kept name.

    Call it while holding the prefix's run lock: the lock is what makes the check-then-build safe."""
    started = time.perf_counter()
    digest = recipe.digest()

    def ms() -> float:
        return (time.perf_counter() - started) * 1000

    if not keep:
        await _build(admin_url, building, recipe, engine_options)
        return Template(building, digest, reused=False, kept=False, ms=ms(), steps=recipe.steps())
    name = kept_name(prefix, digest)
    comment = await _comment(admin_url, name)
    if comment is not None and comment != kept_comment(digest):
        raise LabError(f"the database {name!r} exists but is not a template labsupport kept (its comment is "
                       f"{comment!r}): it is left alone; drop it yourself or set another lab_db_prefix")
    if comment is not None and not rebuild:
        return Template(name, digest, reused=True, kept=True, ms=ms(), steps=recipe.steps())
    await _build(admin_url, building, recipe, engine_options)
    if comment is not None:  # --lab-rebuild-template: the old copy goes only once the new one is complete
        await databases.drop(admin_url, name)
    await _promote(admin_url, building, name, digest)
    dropped = [n for n in await _outdated(admin_url, prefix, name) if await databases.drop(admin_url, n)]
    return Template(name, digest, reused=False, kept=True, ms=ms(), steps=recipe.steps(), dropped=dropped)


def drift_mode(value: str, setting: str) -> str:
    mode = (value or "fail").strip().lower()
    if mode not in DRIFT_MODES:
        raise LabError(f"{setting} {value!r} is not one of {', '.join(DRIFT_MODES)}")
    return mode


def drift_message(lines: list[str]) -> str:
    """The run's refusal when migrations and lab_metadata differ: a summary, then one line per difference."""
    head = (f"the migrations and lab_metadata differ in {len(lines)} place(s) (Alembic's compare_metadata): make "
            "them agree (alembic revision --autogenerate writes the missing migration), or run anyway with "
            "lab_migrations_drift = warn:")
    return "\n".join([head, *(f"  {line}" for line in lines)])


def drift_header(lines: list[str], ms: float) -> list[str]:
    """The header's lines on the comparison: agreement, or each difference the run goes on with."""
    if not lines:
        return [f"labsupport workers: the migrations and lab_metadata agree (Alembic's compare_metadata, {ms:.0f} ms)"]
    return [f"labsupport workers: the migrations and lab_metadata differ in {len(lines)} place(s) "
            f"(lab_migrations_drift = warn; compared in {ms:.0f} ms): the tests run on what the migrations build",
            *(f"labsupport workers:   {line}" for line in lines)]


# ---------------------------------------------------------------- from the run's settings


def from_settings(config: pytest.Config, settings: PluginSettings) -> Recipe:
    """The run's recipe from its settings; every import and file is checked here, before any server work."""
    from .migrations import load
    from .workers import load_schema

    hint = import_hint(config)
    schema = settings.lab_metadata
    metadata_where = f"lab_metadata ({schema.source})"
    metadata = load_schema(expand(schema.value, "lab_metadata", schema.source), hint) if schema.value else None
    lines = settings.lab_sql_before_schema.value.splitlines()
    sql_where = f"lab_sql_before_schema ({settings.lab_sql_before_schema.source})"
    migrations = None
    found = settings.lab_migrations
    if found.value:
        migrations = load(expand(found.value, "lab_migrations", found.source), config_folder(config),
                          f"lab_migrations ({found.source})")
    drift = settings.lab_migrations_drift
    return Recipe(statements=load_statements(lines, sql_where, hint), statements_setting=sql_where,
                  migrations=migrations, metadata=metadata, metadata_setting=metadata_where,
                  drift_mode=drift_mode(drift.value, f"lab_migrations_drift ({drift.source})"))


def for_run(settings: PluginSettings, admin_url: str, prefix: str, recipe: Recipe) -> Template:
    """Build (or reuse) the run's template; call it holding the prefix's run lock. Migrations that
    differ from lab_metadata stop the run here unless ``lab_migrations_drift = warn``."""
    from .workers import engine_options, template_name

    keep, rebuild = keeps(settings)
    built = run_sync(prepare(admin_url, prefix, template_name(prefix), recipe, engine_options("controller"),
                             keep=keep, rebuild=rebuild))
    started = time.perf_counter()
    try:
        built.drift = run_sync(recipe.drift(urls.with_database(admin_url, built.name)))
        if built.drift and recipe.drift_mode == "fail":
            raise pytest.UsageError("labsupport workers: " + drift_message(built.drift))
    except BaseException:
        if not built.kept:  # the run's own template goes with the run; a kept one is what the migrations build
            run_sync(databases.drop(admin_url, built.name))
        raise
    if recipe.compares():
        built.notes = drift_header(built.drift, (time.perf_counter() - started) * 1000)
    return built


def keeps(settings: PluginSettings) -> tuple[bool, bool]:
    """(keep, rebuild): ``--lab-rebuild-template`` implies keeping."""
    rebuild = settings.lab_rebuild_template
    return rebuild or settings.lab_keep_template, rebuild
