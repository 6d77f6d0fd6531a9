"""lab_migrations: the template comes from ``alembic upgrade head`` (tests/apps/migrations_alembic), compared
with lab_metadata; an env.py that insists on another database is stopped before it connects.

The app's own suite (6 tests, at -n 0 and -n 2, the guard, the seeded database) runs in test_apps.py beside it; these
runs change one setting or one file of a copy each.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from template_support import APPS, comments_under, copy_app, drop_prefix, env_for, new_prefix, run

from labsupport import databases, urls
from labsupport.connection import connect, run_sync
from labsupport.teaching.lesson import clean_env

APP = APPS / "migrations_alembic"
DRIFT = ["  column customers.email: in lab_metadata, not in the migrations",
         "  column orders.id: type INTEGER in the migrations, BIGINT in lab_metadata",
         "  column orders.customer_id: nullable in the migrations, NOT NULL in lab_metadata"]
RECIPE = "'Sharing a Connection across one or more programmatic migration commands'"

# env.py as Alembic's async template writes it, plus the line many apps add: the URL from the app's settings.
INSISTS = '''
import asyncio
from alembic import context
from sqlalchemy.ext.asyncio import async_engine_from_config
from shop_m.config import settings
from shop_m.models import Base

config = context.config
config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = async_engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.")
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


asyncio.run(run_async_migrations())
'''
ASYNC_TEMPLATE = INSISTS.replace('config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))\n', "")

# env.py as plain `alembic init` writes it: a sync engine from sqlalchemy.url.
SYNC_TEMPLATE = '''
from alembic import context
from sqlalchemy import engine_from_config, pool
from shop_m.models import Base

config = context.config
engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                            poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
'''


@pytest.fixture
def prefix(lab_server) -> Iterator[str]:
    name = new_prefix("m")
    yield name
    drop_prefix(lab_server.url, name)


def test_migrations_that_differ_from_the_models_stop_the_run_with_one_line_each(lab_server, prefix: str,
                                                                                  tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-o", "lab_metadata=shop_m.drifted:Base")
    assert result.returncode == 4 and result.tests == [], result.output[-3000:]
    lines = result.output.splitlines()
    head = next(i for i, ln in enumerate(lines) if "the migrations and lab_metadata differ in 3 place(s)" in ln)
    assert lines[head + 1:head + 4] == DRIFT, result.output[-3000:]
    assert "lab_migrations_drift = warn" in lines[head] and "INTERNALERROR" not in result.output
    assert comments_under(lab_server.url, prefix) == {}  # the run's template went with the run


def test_lab_migrations_drift_warn_runs_the_tests_and_lists_the_differences(lab_server, prefix: str,
                                                                           tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-o", "lab_metadata=shop_m.drifted:Base",
                 "-o", "lab_migrations_drift=warn")
    assert result.ok and result.passed == 6, result.output[-3000:]
    assert "labsupport workers: the migrations and lab_metadata differ in 3 place(s) (lab_migrations_drift = warn; " \
        "compared in " in result.output
    for line in DRIFT:
        assert f"labsupport workers: {line}" in result.output


def test_models_in_step_with_the_migrations_are_said_to_agree(lab_server, prefix: str, tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-n", "0")
    assert result.ok and result.passed == 6, result.output[-3000:]
    assert "labsupport workers: the migrations and lab_metadata agree (Alembic's compare_metadata, " in result.output
    assert "Running upgrade" not in result.output  # Alembic's log lines stay out of the report


async def _seed(admin_url: str, name: str) -> None:
    await databases.create(admin_url, name, replace=True)
    conn = await connect(urls.with_database(admin_url, name))
    try:
        await conn.execute("CREATE TABLE items (id serial PRIMARY KEY)")
        await conn.execute("INSERT INTO items DEFAULT VALUES")
    finally:
        await conn.close()


async def _tables(url: str) -> list[str]:
    conn = await connect(url)
    try:
        return [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    finally:
        await conn.close()


def test_an_env_py_that_insists_on_the_apps_url_is_stopped_before_it_connects(lab_server, prefix: str,
                                                                             tmp_path: Path) -> None:
    app = copy_app("migrations_alembic", tmp_path)
    (app / "migrations" / "env.py").write_text(INSISTS)
    dev = f"t1mdev_{secrets.token_hex(3)}"  # a developer's database, not a test database
    run_sync(_seed(lab_server.url, dev))
    try:
        result = run(app, env_for(lab_server.url, prefix, tmp_path, urls.with_database(lab_server.url, dev)))
        assert result.returncode == 4 and result.tests == [], result.output[-3000:]
        error = next(ln for ln in result.output.splitlines() if ln.startswith("ERROR: "))
        assert f"env.py connected to the database {dev!r}, not to the template" in error
        assert RECIPE in error and "nothing was migrated there" in error
        assert run_sync(_tables(urls.with_database(lab_server.url, dev))) == ["items"]  # no alembic_version
    finally:
        run_sync(databases.drop(lab_server.url, dev))
    assert comments_under(lab_server.url, prefix) == {}


def test_alembics_async_template_migrates_the_template_through_sqlalchemy_url(lab_server, prefix: str,
                                                                             tmp_path: Path) -> None:
    """No config.attributes, its own event loop (asyncio.run): it gets the URL, in a thread of its own."""
    app = copy_app("migrations_alembic", tmp_path)
    (app / "migrations" / "env.py").write_text(ASYNC_TEMPLATE)
    result = run(app, env_for(lab_server.url, prefix, tmp_path), "-n", "2")
    assert result.ok and result.passed == 6, result.output[-3000:]


def test_alembics_generic_template_migrates_the_template_through_sqlalchemy_url(lab_server, prefix: str,
                                                                               tmp_path: Path) -> None:
    """A sync engine from sqlalchemy.url (the template's asyncpg URL), run where SQLAlchemy can drive asyncpg."""
    app = copy_app("migrations_alembic", tmp_path)
    (app / "migrations" / "env.py").write_text(SYNC_TEMPLATE)
    result = run(app, env_for(lab_server.url, prefix, tmp_path), "-n", "0")
    assert result.ok and result.passed == 6, result.output[-3000:]


def test_a_failing_migration_is_one_line_and_leaves_no_template(lab_server, prefix: str, tmp_path: Path) -> None:
    app = copy_app("migrations_alembic", tmp_path)
    (app / "migrations" / "versions" / "0004_broken.py").write_text(textwrap.dedent('''
        from alembic import op

        revision = "0004"
        down_revision = "0003"


        def upgrade():
            op.execute("ALTER TABLE nowhere ADD COLUMN x integer")
        '''))
    result = run(app, env_for(lab_server.url, prefix, tmp_path), "--lab-keep-template")
    assert result.returncode == 4 and result.tests == [], result.output[-3000:]
    assert ('ERROR: labsupport workers: lab_migrations (ini lab_migrations): alembic upgrade head failed on the '
            'template: relation "nowhere" does not exist') in result.output
    assert "Traceback" not in result.output and "INTERNALERROR" not in result.output
    assert comments_under(lab_server.url, prefix) == {}


def test_a_missing_alembic_ini_is_one_line(lab_server, prefix: str, tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-o", "lab_migrations=nowhere/alembic.ini")
    assert result.returncode == 4, result.output[-3000:]
    assert (f"ERROR: labsupport workers: lab_migrations (ini lab_migrations): there is no file "
            f"{APP / 'nowhere' / 'alembic.ini'}") in result.output


def test_without_alembic_the_setting_names_what_to_install(lab_server, prefix: str, tmp_path: Path) -> None:
    """Alembic made unimportable for this run: a package of that name that raises ImportError, first on the path."""
    hidden = tmp_path / "no_alembic" / "alembic"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('No module named alembic')\n")
    env = {**env_for(lab_server.url, prefix, tmp_path), "PYTHONPATH": str(hidden.parent)}
    result = run(APP, env)
    assert result.returncode == 4, result.output[-3000:]
    assert ("ERROR: labsupport workers: lab_migrations (ini lab_migrations) needs Alembic, which is not installed: "
            "pip install alembic") in result.output


def test_loading_the_plugin_does_not_import_alembic() -> None:
    code = ("import sys, labsupport.pytest_plugin, labsupport.pytest_plugin.worker_hooks, "
            "labsupport.pytest_plugin.template; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('alembic', 'mako')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=clean_env(scenarios=False), check=True)
    assert out.stdout.strip() == "[]"
