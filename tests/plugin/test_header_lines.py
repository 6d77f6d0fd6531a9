"""What the report header and the guard's lines say, in real pytest runs on the lab's server.

Each suite is written to tmp_path and run in a subprocess: the guard's line for an app URL that
names no database, and for an app server that does not answer; lab_client's base URL setting;
the anyio hint of lab_engine's line; and the line that corrects the header once the selected
tests are known, with and without pytest-xdist.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from pathlib import Path

from labsupport import urls
from labsupport.pytest_plugin import engines
from labsupport.teaching import lesson

INI = """
[pytest]
addopts = -p no:cacheprovider -p no:randomly
pythonpath = .
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = {fixtures}
lab_metadata = tables:metadata
"""
TABLES = "from sqlalchemy import MetaData\n\nmetadata = MetaData()\n"


def _suite(folder: Path, tests: str, ini: str = "", fixtures: str = "function", mode: str = "auto",
           **files: str) -> Path:
    text = INI.lstrip().format(fixtures=fixtures, mode=mode) + textwrap.dedent(ini).lstrip()
    (folder / "pytest.ini").write_text(text, encoding="utf-8")
    (folder / "tables.py").write_text(TABLES, encoding="utf-8")
    (folder / "test_it.py").write_text(textwrap.dedent(tests).lstrip(), encoding="utf-8")
    for name, text in files.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


def _env(server_url: str, **extra: str) -> dict[str, str]:
    return {"LAB_SERVER_URL": server_url, "LAB_DB_PREFIX": f"t2h_{secrets.token_hex(3)}", **extra}


def _run(suite: Path, env: dict[str, str], *args: str) -> lesson.SuiteResult:
    return lesson.run_suite(suite, "-v", *args, env=env, scenarios=False)


ONE_TEST = """
async def test_it(lab_connection):
    assert await lab_connection.exec_driver_sql("SELECT 1")
"""


def test_an_app_url_without_a_database_is_refused_without_being_called_a_test_database(tmp_path: Path,
                                                                                       lab_server) -> None:
    no_name = urls.with_database(lab_server.url, "")
    suite = _suite(tmp_path, ONE_TEST, "lab_guard_url = env:APP_URL\n")
    result = _run(suite, _env(lab_server.url, APP_URL=no_name), "-n", "0")
    assert result.returncode == 4 and result.tests == [], result.output[-2000:]
    assert ("is 'postgres' according to the server, the database PostgreSQL picks when a URL names none (the "
            "user's own), and that is not a test database") in result.output
    assert "a test database; the tests go on" not in result.output and ": a test database" not in result.output


def test_a_test_database_is_named_as_one_and_the_tests_go_on(tmp_path: Path, lab_server) -> None:
    env = _env(lab_server.url)
    suite = _suite(tmp_path, ONE_TEST, "lab_guard_url = env:APP_URL\n")
    template = urls.with_database(lab_server.url, f"{env['LAB_DB_PREFIX']}_template_test")  # made before the guard asks
    result = _run(suite, {**env, "APP_URL": template}, "-n", "0")
    assert result.ok, result.output[-2000:]
    assert (f"labsupport guard: the app's database is '{env['LAB_DB_PREFIX']}_template_test' according to the "
            "server, a test database; the tests go on") in result.output


def test_an_app_server_that_does_not_answer_lets_the_tests_go_on(tmp_path: Path, lab_server) -> None:
    suite = _suite(tmp_path, ONE_TEST, "lab_guard_url = postgresql+asyncpg://app:secret@127.0.0.1:1/app\n")
    result = _run(suite, _env(lab_server.url), "-n", "0")
    assert result.ok and result.passed == 1, result.output[-2000:]
    assert "must be a test database; the guard asks the server with that URL and its credentials" in result.output
    assert ("labsupport guard: no server answers for the app's database (nothing is listening at 127.0.0.1:1"
            in result.output)
    assert "so nothing there can be destroyed; the tests go on" in result.output
    assert "secret" not in result.output


HOST_APP = """
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware.trustedhost import TrustedHostMiddleware

app = FastAPI()
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["api.shop.test"])


async def get_session() -> AsyncIterator[AsyncSession]:
    raise RuntimeError("replaced by the test's session")
    yield


@app.get("/where")
async def where(session: AsyncSession = Depends(get_session)):
    return {"one": await session.scalar(text("SELECT 1"))}
"""
HOST_TEST = """
async def test_host(lab_client):
    response = await lab_client.get("/where")
    assert response.status_code == 200, (str(lab_client.base_url), response.status_code, response.text)
"""


def test_lab_client_base_url_is_a_setting(tmp_path: Path, lab_server) -> None:
    suite = _suite(tmp_path, HOST_TEST, "lab_app = hostapp:app\nlab_session_dependency = hostapp:get_session\n",
                   hostapp=HOST_APP)
    env = _env(lab_server.url)
    assert _run(suite, env, "-n", "0", "-o", "lab_client_base_url=http://api.shop.test").ok
    default = _run(suite, env, "-n", "0")
    assert default.failed == 1 and "('http://lab.test', 400, 'Invalid host header')" in default.output
    wrong = _run(suite, env, "-n", "0", "-o", "lab_client_base_url=api.shop.test")
    assert wrong.errors == 1 and wrong.problems == [
        "Failed: labsupport: lab_client_base_url (ini lab_client_base_url) is 'api.shop.test': write an http:// or "
        "https:// URL with the host your app expects, e.g. http://api.example.test"], wrong.output[-2000:]


ANYIO_TESTS = """
import pytest


@pytest.mark.anyio
async def test_it(lab_connection):
    assert await lab_connection.exec_driver_sql("SELECT 1")
"""


def test_the_header_names_anyio_s_way_to_the_session_loop(tmp_path: Path, lab_server) -> None:
    result = _run(_suite(tmp_path, ANYIO_TESTS, mode="strict"), _env(lab_server.url), "-n", "0")
    assert result.ok, result.output[-2000:]
    assert ("labsupport lab_engine: NullPool, a new server connection per test (tests in function-scoped loops, "
            "fixtures in function; asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope "
            "= session make it pooled: 4.9 ms less per test in the lab's bench (7.68 vs 2.79 ms, docs/performance.md; "
            "labsupport bench isolation measures this server's) (anyio-marked tests: a session-scoped anyio_backend "
            "fixture))") in result.output


SESSION_ANYIO_BACKEND = """
import pytest


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"
"""


def test_anyio_tests_are_pooled_by_the_scope_of_the_anyio_backend_they_get(tmp_path: Path, lab_server) -> None:
    """The session-scoped anyio_backend of a conftest.py makes lab_engine pooled; anyio's own is module-scoped."""
    tests = ANYIO_TESTS + "\n\n@pytest.mark.anyio\nasync def test_again(lab_connection):\n    pass\n"
    (tmp_path / "own").mkdir()
    (tmp_path / "anyio").mkdir()
    own = _run(_suite(tmp_path / "own", tests, fixtures="session", mode="strict", conftest=SESSION_ANYIO_BACKEND),
               _env(lab_server.url), "-n", "0")
    assert own.ok and own.passed == 2, own.output[-2000:]
    assert ("labsupport lab_engine: pooled, made in the session loop (all 2 tests that use it run in the session "
            "loop)\n") in own.output
    session_loop = "asyncio_default_test_loop_scope = session\n"  # the header says pooled before collection
    anyio_s = _run(_suite(tmp_path / "anyio", tests, session_loop, fixtures="session", mode="strict"),
                   _env(lab_server.url), "-n", "0", "-k", "asyncio")
    assert anyio_s.ok and anyio_s.passed == 2, anyio_s.output[-2000:]
    assert ("labsupport lab_engine: NullPool, a new server connection per test (2 of 2 tests run outside the session "
            "loop, e.g. test_it.py::test_it[asyncio]: its anyio_backend fixture is not session-scoped") in anyio_s.output


def test_the_header_s_bench_figure_is_the_one_docs_performance_gives() -> None:
    table = (Path(__file__).resolve().parents[2] / "docs" / "performance.md").read_text(encoding="utf-8")

    def median(row: str) -> float:
        found = re.search(r"^\| " + re.escape(row) + r" \| ([0-9.]+) \|", table, re.MULTILINE)
        assert found, f"docs/performance.md has no row {row!r}"
        return float(found.group(1))

    assert engines.BENCH_MS_PER_TEST == {"nullpool": median("lab default chain (`lab_session`, NullPool)"),
                                         "pooled": median("lab fast path (`lab_pooled_engine`, session loop)")}


SESSION_LOOP_TESTS = """
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("n", range(8))
async def test_it(lab_connection, n):
    assert await lab_connection.exec_driver_sql("SELECT 1")
"""
CORRECTED = ("labsupport lab_engine: pooled, made in the session loop (all 6 tests that use it run in the "
             "session loop)")


def test_the_header_is_corrected_by_the_selected_tests_without_xdist(tmp_path: Path, lab_server) -> None:
    result = _run(_suite(tmp_path, SESSION_LOOP_TESTS, fixtures="session"), _env(lab_server.url), "-n", "0", "-k", "not 6 and not 7")
    assert result.ok and result.passed == 6, result.output[-2000:]
    assert "labsupport lab_engine: NullPool" in result.output
    assert CORRECTED + "\n" in result.output


def test_the_header_is_corrected_by_the_workers_under_xdist(tmp_path: Path, lab_server) -> None:
    result = _run(_suite(tmp_path, SESSION_LOOP_TESTS, fixtures="session"), _env(lab_server.url), "-n", "2", "-k", "not 6 and not 7")
    assert result.ok and result.passed == 6, result.output[-2000:]
    assert "labsupport lab_engine: NullPool" in result.output
    assert (CORRECTED + ", in every worker (the header's line was decided before collection)") in result.output
    assert result.output.count("in every worker (the header") == 1


def test_no_correction_when_the_workers_agree_with_the_header(tmp_path: Path, lab_server) -> None:
    result = _run(_suite(tmp_path, ONE_TEST), _env(lab_server.url), "-n", "2")
    assert result.ok, result.output[-2000:]
    assert "in every worker (the header" not in result.output
