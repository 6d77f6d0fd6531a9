"""A template kept between runs (lab_keep_template): named after a hash of what builds it, reused while that
is unchanged, rebuilt when a migration changes, never dropped by the reaper, never confused with a database
the lab did not make."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table
from template_support import APPS, comments_under, copy_app, drop_prefix, env_for, header_value, new_prefix, run

from labsupport import databases, owners, urls
from labsupport.connection import connect, run_sync
from labsupport.errors import LabError
from labsupport.pytest_plugin import guard, migrations, template, workers

BUILT = re.compile(r"template built in \d+ ms \(hash ([0-9a-f]{12});")
REUSED = re.compile(r"template reused \(hash ([0-9a-f]{12})\)")


@pytest.fixture
def prefix(lab_server) -> Iterator[str]:
    name = new_prefix("k")
    yield name
    drop_prefix(lab_server.url, name)


# ---------------------------------------------------------------- names, marks, hashes


def test_a_kept_name_fits_postgresql_ends_in_test_and_is_no_runs_own() -> None:
    name = template.kept_name("p" * databases.MAX_PREFIX_BYTES, "0123456789ab")
    assert len(name.encode()) <= 63 and guard.is_test_database(name)
    assert not workers.owns("p" * databases.MAX_PREFIX_BYTES, name)  # a run's end never drops it


def test_the_kept_mark_is_the_labs_but_names_no_owner_to_reap() -> None:
    comment = template.kept_comment("0123456789ab")
    assert comment.startswith(owners.MARK) and owners.parse(comment) is None


def test_the_drift_setting_takes_fail_or_warn() -> None:
    assert template.drift_mode("", "lab_migrations_drift") == "fail"
    assert template.drift_mode("Warn", "lab_migrations_drift") == "warn"
    with pytest.raises(LabError, match="lab_migrations_drift 'ignore' is not one of fail, warn"):
        template.drift_mode("ignore", "lab_migrations_drift")


def _metadata(*extra: str) -> MetaData:
    md = MetaData()
    Table("items", md, Column("id", Integer, primary_key=True), *(Column(c, Integer) for c in extra))
    return md


def test_the_hash_follows_every_ingredient(tmp_path: Path) -> None:
    base = template.Recipe(statements=("CREATE SCHEMA a",), metadata=_metadata())
    assert base.digest() == template.Recipe(statements=("CREATE SCHEMA a",), metadata=_metadata()).digest()
    assert base.digest() != template.Recipe(statements=("CREATE SCHEMA b",), metadata=_metadata()).digest()
    assert base.digest() != template.Recipe(statements=("CREATE SCHEMA a",), metadata=_metadata("x")).digest()
    app = copy_app("migrations_alembic", tmp_path)
    with_migrations = template.Recipe(migrations=migrations.load("alembic.ini", app, "lab_migrations"))
    first = with_migrations.digest()
    revision = app / "migrations" / "versions" / "0003_order_note.py"
    revision.write_text(revision.read_text() + "\n# one more line\n")
    assert with_migrations.digest() != first


# ---------------------------------------------------------------- runs


def _add_gift_column(app: Path) -> None:
    """A change to a migration (and the model in step with it): the template must be built again."""
    revision = app / "migrations" / "versions" / "0003_order_note.py"
    text = revision.read_text().replace(
        '    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))\n',
        '    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))\n'
        '    op.add_column("orders", sa.Column("gift", sa.Boolean(), nullable=True))\n')
    revision.write_text(text)
    models = app / "shop_m" / "models.py"
    models.write_text(models.read_text().replace(
        "    note: Mapped[str | None] = mapped_column(Text)\n",
        "    note: Mapped[str | None] = mapped_column(Text)\n    gift: Mapped[bool | None]\n"))


async def _columns(url: str, table: str) -> list[str]:
    conn = await connect(url)
    try:
        return [r[0] for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY 1", table)]
    finally:
        await conn.close()


def _found(pattern: re.Pattern[str], output: str) -> str:
    """The first group of ``pattern`` in a run's output; the test fails with the output's end when it is not there."""
    match = pattern.search(output)
    assert match, output[-3000:]
    return match.group(1)


def test_the_template_is_reused_on_the_second_run_and_rebuilt_after_a_migration_changes(
        lab_server, prefix: str, tmp_path: Path) -> None:
    app = copy_app("migrations_alembic", tmp_path)
    env = env_for(lab_server.url, prefix, tmp_path)

    first = run(app, env, "--lab-keep-template", "-n", "0")
    assert first.ok and first.passed == 6, first.output[-3000:]
    digest = _found(BUILT, first.output)
    kept = template.kept_name(prefix, digest)
    assert f"kept as {kept} for the next run" in first.output
    assert comments_under(lab_server.url, prefix) == {kept: template.kept_comment(digest)}

    second = run(app, env, "--lab-keep-template", "-n", "2")
    assert second.ok and second.passed == 6, second.output[-3000:]
    assert _found(REUSED, second.output) == digest
    assert "template built" not in second.output

    _add_gift_column(app)
    third = run(app, env, "--lab-keep-template", "-n", "0")
    assert third.ok and third.passed == 6, third.output[-3000:]
    changed = _found(BUILT, third.output)
    assert changed != digest and f"removed the outdated {kept}" in third.output
    rebuilt = template.kept_name(prefix, changed)
    assert comments_under(lab_server.url, prefix) == {rebuilt: template.kept_comment(changed)}
    assert "gift" in run_sync(_columns(urls.with_database(lab_server.url, rebuilt), "orders"))

    forced = run(app, env, "--lab-rebuild-template", "-n", "0")
    assert forced.ok and _found(BUILT, forced.output) == changed, forced.output[-3000:]
    assert list(comments_under(lab_server.url, prefix)) == [rebuilt]


def test_the_reaper_passes_a_kept_template_by(lab_server, prefix: str, tmp_path: Path) -> None:
    result = run(APPS / "schemas_citext", env_for(lab_server.url, prefix, tmp_path), "-o", "lab_keep_template=true")
    assert result.ok, result.output[-3000:]
    kept = list(comments_under(lab_server.url, prefix))
    assert len(kept) == 1 and kept[0].startswith(f"{prefix}_{template.KEPT}_")
    assert kept[0] not in run_sync(databases.reap(lab_server.url))
    assert list(comments_under(lab_server.url, prefix)) == kept


async def _create_unmarked(admin_url: str, name: str) -> None:
    conn = await connect(admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {databases.quote(name)}")
    finally:
        await conn.close()


async def _drop_unmarked(admin_url: str, name: str) -> None:
    conn = await connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {databases.quote(name)}")
    finally:
        await conn.close()


def test_a_database_with_the_kept_name_but_not_the_mark_is_left_alone(lab_server, prefix: str,
                                                                      tmp_path: Path) -> None:
    app, env = APPS / "schemas_citext", env_for(lab_server.url, prefix, tmp_path)
    learned = run(app, env, "--lab-keep-template")
    assert learned.ok, learned.output[-3000:]
    name = header_value(learned.output, "labsupport workers: template built in ").split("kept as ")[1].split(" ")[0]
    drop_prefix(lab_server.url, prefix)
    run_sync(_create_unmarked(lab_server.url, name))  # someone else's database, by chance of that name
    try:
        refused = run(app, env, "--lab-keep-template")
        assert refused.returncode == 4 and refused.tests == [], refused.output[-3000:]
        assert f"the database {name!r} exists but is not a template labsupport kept" in refused.output
        assert comments_under(lab_server.url, prefix) == {name: ""}
    finally:
        run_sync(_drop_unmarked(lab_server.url, name))
