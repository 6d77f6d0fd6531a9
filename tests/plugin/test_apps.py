"""Small apps adopt labsupport's plugin by settings alone (tests/apps/, one per session shape).

Each app's suite runs in a subprocess on the lab's server, as its team would run it: at ``-n 0``
and ``-n 2`` (a database per worker from ``lab_metadata``, the server from ``LAB_SERVER_URL``),
with the app's own URL naming a database that does not exist (the guard says so and goes on);
then once with the app's URL naming a seeded database that is not a test database: the guard
refuses before any test runs, and that database keeps its rows.

    shape_a_session     a dependency yielding an AsyncSession      pytest.ini, session loop (pooled)
    shape_b_factory     a dependency yielding an async_sessionmaker  pyproject [tool.pytest], anyio, lifespan on
    shape_c_module      a module-level async_sessionmaker + engine  setup.cfg [tool:pytest], function loops
    shape_d_connection  AsyncConnection and AsyncEngine dependencies  tox.ini, session loop (pooled)
    migrations_alembic  the schema from Alembic migrations (env.py reads the app's settings), compared with
                        the models                                   pytest.ini, session loop (pooled)
    schemas_citext      tables in two PostgreSQL schemas and citext, made before create_all
                                                                     pyproject [tool.pytest.ini_options]
    shape_e_commit      get_db commits after its yield; the routes rely on it  [tool.pytest.ini_options]
    shape_f_container   engine and session factory from a dependency-injector container  pytest.ini, session loop
"""

from __future__ import annotations

import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport import databases, urls
from labsupport.connection import connect, run_sync
from labsupport.teaching import lesson

APPS = Path(__file__).resolve().parents[1] / "apps"
EXPECTED = {"shape_a_session": 9, "shape_b_factory": 9, "shape_c_module": 10, "shape_d_connection": 11,
            "migrations_alembic": 6, "schemas_citext": 5, "shape_e_commit": 7, "shape_f_container": 7}
SEEDED_ROWS = 3


async def _seed(admin_url: str, name: str) -> None:
    await databases.create(admin_url, name, replace=True)
    conn = await connect(urls.with_database(admin_url, name))
    try:
        await conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO items (name) SELECT 'kept ' || n FROM generate_series(1, $1) n", SEEDED_ROWS)
    finally:
        await conn.close()


async def _rows(url: str) -> int:
    conn = await connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM items"))
    finally:
        await conn.close()


@pytest.fixture
def seeded(lab_server) -> Iterator[str]:
    """A developer's database, not named *_test, with rows in it; dropped afterwards."""
    name = f"t11dev_{secrets.token_hex(3)}"
    run_sync(_seed(lab_server.url, name))
    yield urls.with_database(lab_server.url, name)
    run_sync(databases.drop(lab_server.url, name))


def _run(app: str, env: dict[str, str], *args: str) -> lesson.SuiteResult:
    return lesson.run_suite(APPS / app, "-v", "-p", "no:randomly", *args, env=env, scenarios=False)


@pytest.mark.starts_first(7)
@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_an_app_adopts_the_plugin_by_settings_alone(app: str, lab_server, seeded: str) -> None:
    missing = urls.with_database(lab_server.url, f"t11nothere_{secrets.token_hex(3)}")
    env = {"LAB_SERVER_URL": lab_server.url, "SHOP_DATABASE_URL": missing,
           "LAB_DB_PREFIX": f"t11{app[6]}_{secrets.token_hex(3)}"}
    for workers in ("0", "2"):
        result = _run(app, env, "-n", workers)
        assert result.ok and result.passed == EXPECTED[app], (workers, result.problems, result.output[-3000:])
        assert "does not exist, so nothing there can be destroyed" in result.output
        if workers == "2":
            assert "parallel, 2 pytest-xdist workers" in result.output and "named *_test by construction" in result.output
    refused = _run(app, {**env, "SHOP_DATABASE_URL": seeded}, "-n", "0")
    assert refused.returncode == 4 and refused.tests == [], refused.output[-2000:]
    assert "according to the server, and that is not a test database" in refused.output
    assert run_sync(_rows(seeded)) == SEEDED_ROWS


def test_a_wrongly_forced_shape_breaks_the_suite(lab_server) -> None:
    """Honesty check: forcing shape b's factory dependency to be treated as a session breaks the suite."""
    env = {"LAB_SERVER_URL": lab_server.url, "LAB_DB_PREFIX": f"t11w_{secrets.token_hex(3)}",
           "SHOP_DATABASE_URL": urls.with_database(lab_server.url, "t11_nothere")}
    result = _run("shape_b_factory", env, "-o", "lab_session_shape=session")
    assert result.passed == 0 and result.failed == EXPECTED["shape_b_factory"], result.output[-2000:]
    assert "'AsyncSession' object is not callable" in result.output


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


def test_a_pytest_ini_that_hides_pyproject_is_named_in_one_line(tmp_path: Path) -> None:
    suite = _write(tmp_path, {
        "pyproject.toml": "[tool.pytest.ini_options]\nlab_app = 'shop.main:app'\n",
        "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
        "test_nothing.py": "def test_it():\n    pass\n",
    })
    result = lesson.run_suite(suite, "-v", scenarios=False)
    assert result.ok, result.output[-2000:]
    assert (f"labsupport: pytest reads its settings from pytest.ini only; the [tool.pytest.ini_options] table of "
            f"{tmp_path / 'pyproject.toml'} is ignored") in result.output


def test_an_import_failure_names_the_rootdir_and_the_pythonpath_option(tmp_path: Path, lab_server) -> None:
    suite = _write(tmp_path, {
        "pyproject.toml": "[tool.pytest.ini_options]\nlab_metadata = 'shop.models:Base'\naddopts = '-p no:cacheprovider'\n",
        "test_nothing.py": "def test_it():\n    pass\n",
    })
    (tmp_path / "src" / "shop").mkdir(parents=True)
    result = lesson.run_suite(suite, env={"LAB_SERVER_URL": lab_server.url}, scenarios=False)
    assert result.returncode == 4, result.output[-2000:]
    assert (f"lab_metadata 'shop.models:Base': cannot import shop.models (No module named 'shop'); pytest's rootdir "
            f"is {tmp_path} and its config file is {tmp_path / 'pyproject.toml'}: make your project importable from "
            "there with the pythonpath ini option (pythonpath = .)") in result.output


LIFESPAN_FACTORY_APP = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        addopts = "-p no:cacheprovider"
        pythonpath = "."
        asyncio_mode = "auto"
        asyncio_default_fixture_loop_scope = "function"
        lab_app = "late.main:app"
        lab_session_dependency = "late.main:get_db"
        lab_metadata = "late.main:Base.metadata"
        """,
    "late/__init__.py": "",
    "late/main.py": """
        from collections.abc import AsyncIterator

        from fastapi import Depends, FastAPI, Request
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.orm import DeclarativeBase


        class Base(DeclarativeBase):
            pass


        app = FastAPI()


        async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
            session = request.app.state.session_factory()
            try:
                yield session
                await session.commit()
            finally:
                await session.close()


        @app.get("/")
        async def root(db=Depends(get_db)):
            return {}
        """,
    "test_late.py": """
        async def test_it(lab_client):
            assert (await lab_client.get("/")).status_code == 200
        """,
}


def test_a_committing_dependency_whose_factory_cannot_be_found_stops_in_one_line(tmp_path: Path, lab_server) -> None:
    (tmp_path / "late").mkdir()
    suite = _write(tmp_path, LIFESPAN_FACTORY_APP)
    env = {"LAB_SERVER_URL": lab_server.url, "LAB_DB_PREFIX": f"t2late_{secrets.token_hex(3)}"}
    result = lesson.run_suite(suite, "-n", "0", env=env, scenarios=False)
    assert result.errors == 1 and result.passed == 0, result.output[-2000:]
    assert result.problems == [
        "Failed: labsupport: late.main:get_db runs code after its yield (a commit, rollback or close) that replacing it "
        "would skip, and it names no module-level async_sessionmaker or AsyncEngine the plugin can point at the "
        "test's connection: name the factory it uses with lab_session_factory_targets = yourapp.db:SessionLocal "
        "(module:attribute)"], result.output[-2000:]
