"""labsupport.pytest_plugin.transactional on the real server: small suites written to tmp_path, run by real pytest.

Each suite gets a database of its own with one table; after the run the table must be empty,
whatever the routes committed, rolled back or raised.
"""

from __future__ import annotations

import re
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport import databases
from labsupport.connection import connect, run_sync
from labsupport.teaching import lesson

APP = '''
"""A tiny app: a global factory made in the lifespan, routes that commit, roll back and raise."""
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

factory = None
lifespan_runs = []


@asynccontextmanager
async def lifespan(app):
    lifespan_runs.append("startup")
    yield


app = FastAPI(lifespan=lifespan)


async def get_session() -> AsyncIterator[AsyncSession]:
    if factory is None:
        raise RuntimeError("Database session factory not initialized")
    async with factory() as session:
        yield session


async def add(session, body):
    await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})


@app.get("/notes")
async def notes(session=Depends(get_session)):
    return list((await session.execute(text("SELECT body FROM notes ORDER BY id"))).scalars())


@app.post("/notes/{body}")
async def commits(body: str, session=Depends(get_session)):
    await add(session, body)
    await session.commit()
    return {"saved": body}


@app.post("/drafts/{body}")
async def rolls_back(body: str, session=Depends(get_session)):
    await add(session, body)
    await session.rollback()
    return {"discarded": body}


@app.post("/broken/{body}")
async def raises(body: str, session=Depends(get_session)):
    await add(session, body)
    raise RuntimeError("the route failed after writing")
'''

CONFTEST = '''
import pytest

import notes_app


@pytest.fixture(scope="session")
def lab_app():
    return notes_app.app


@pytest.fixture(scope="session")
def lab_session_dependency():
    return notes_app.get_session
'''

TESTS = '''
import pytest
from sqlalchemy import text


async def count(session):
    return await session.scalar(text("SELECT count(*) FROM notes"))


async def add(session, body):
    await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
    await session.commit()


async def test_a_route_that_commits(lab_session, lab_client):
    assert await count(lab_session) == 0
    await add(lab_session, "from the test")
    assert (await lab_client.post("/notes/from-the-route")).status_code == 200
    assert (await lab_client.get("/notes")).json() == ["from the test", "from-the-route"]
    assert await count(lab_session) == 2


async def test_b_route_that_rolls_back(lab_session, lab_client):
    assert await count(lab_session) == 0
    await add(lab_session, "from the test")
    assert (await lab_client.post("/drafts/gone")).status_code == 200
    assert (await lab_client.get("/notes")).json() == ["from the test"]


async def test_c_route_that_raises(lab_session, lab_client):
    assert await count(lab_session) == 0
    await add(lab_session, "from the test")
    with pytest.raises(RuntimeError, match="failed after writing"):
        await lab_client.post("/broken/gone")
    assert (await lab_client.get("/notes")).json() == ["from the test"]
    assert await count(lab_session) == 1


async def test_d_fails_after_committing(lab_client):
    assert (await lab_client.post("/notes/left-by-a-failed-test")).status_code == 200
    assert False, "fails on purpose"


async def test_e_following_test_sees_zero_rows(lab_session, lab_client):
    assert await count(lab_session) == 0
    assert (await lab_client.get("/notes")).json() == []
'''

EXPECTED = {
    "test_a_route_that_commits": "passed",
    "test_b_route_that_rolls_back": "passed",
    "test_c_route_that_raises": "passed",
    "test_d_fails_after_committing": "failed",
    "test_e_following_test_sees_zero_rows": "passed",
}


def _ini(loop_scope: str = "function") -> str:
    return (f"[pytest]\naddopts = -p no:cacheprovider\nasyncio_mode = auto\n"
            f"asyncio_default_fixture_loop_scope = {loop_scope}\nasyncio_default_test_loop_scope = {loop_scope}\n")


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return folder


async def _make_database(admin_url: str, name: str) -> None:
    await databases.create(admin_url, name, replace=True)
    conn = await connect(databases_url(admin_url, name))
    try:
        await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL UNIQUE)")
    finally:
        await conn.close()


def databases_url(admin_url: str, name: str) -> str:
    from labsupport import urls

    return urls.with_database(admin_url, name)


@pytest.fixture
def notes_db(lab_server) -> Iterator[str]:
    """A database of this test's own with an empty ``notes`` table; dropped afterwards."""
    name = f"t02u_{secrets.token_hex(4)}"
    run_sync(_make_database(lab_server.url, name))
    yield databases_url(lab_server.url, name)
    run_sync(databases.drop(lab_server.url, name))


def _rows_left(url: str) -> int:
    async def count() -> int:
        conn = await connect(url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM notes"))
        finally:
            await conn.close()

    return run_sync(count())


def _suite(tmp_path: Path, loop_scope: str = "function", **extra: str) -> Path:
    files = {"pytest.ini": _ini(loop_scope), "notes_app.py": APP, "conftest.py": CONFTEST, "test_notes.py": TESTS}
    return _write(tmp_path, {**files, **extra})


@pytest.mark.parametrize("loop_scope", ["function", "module", "session"])
def test_commit_rollback_and_raise_leave_nothing_behind(tmp_path: Path, notes_db: str, loop_scope: str) -> None:
    result = lesson.run_suite(_suite(tmp_path, loop_scope), env={"LAB_TEST_DATABASE_URL": notes_db})

    assert {t.name: t.outcome for t in result.tests} == EXPECTED, result.output[-3000:]
    assert "fails on purpose" in result.messages[0]
    assert "different loop" not in result.output
    assert _rows_left(notes_db) == 0


def test_the_lifespan_runs_when_asked_and_routes_still_use_the_test_connection(tmp_path: Path, notes_db: str) -> None:
    plain = """
    import notes_app

    async def test_no_lifespan_unless_asked(lab_client):
        assert notes_app.lifespan_runs == []
    """
    with_lifespan = """
    import pytest
    import notes_app

    @pytest.fixture(scope="module")
    def lab_run_lifespan():
        return True

    async def test_lifespan(lab_client):
        assert notes_app.lifespan_runs == ["startup"]
        assert (await lab_client.post("/notes/x")).status_code == 200
        assert (await lab_client.get("/notes")).json() == ["x"]
    """
    suite = _write(tmp_path, {"pytest.ini": _ini(), "notes_app.py": APP, "conftest.py": CONFTEST,
                              "test_a_plain.py": plain, "test_b_lifespan.py": with_lifespan})
    result = lesson.run_suite(suite, env={"LAB_TEST_DATABASE_URL": notes_db})

    assert result.ok and result.passed == 2, result.output[-3000:]
    assert _rows_left(notes_db) == 0


def test_an_earlier_override_comes_back_after_the_test(tmp_path: Path, notes_db: str) -> None:
    tests = '''
    import notes_app

    async def mine():
        yield "mine"

    notes_app.app.dependency_overrides[notes_app.get_session] = mine

    async def test_uses_the_lab_override(lab_client):
        assert notes_app.app.dependency_overrides[notes_app.get_session] is not mine
        assert (await lab_client.get("/notes")).json() == []

    def test_mine_is_back():
        assert notes_app.app.dependency_overrides[notes_app.get_session] is mine
    '''
    suite = _write(tmp_path, {"pytest.ini": _ini(), "notes_app.py": APP, "conftest.py": CONFTEST,
                              "test_restore.py": tests})
    result = lesson.run_suite(suite, "-p", "no:randomly", env={"LAB_TEST_DATABASE_URL": notes_db})

    assert result.ok and result.passed == 2, result.output[-3000:]


def test_a_lab_database_url_fixture_wins_over_the_environment(tmp_path: Path, notes_db: str) -> None:
    conftest = CONFTEST + f'''

@pytest.fixture(scope="session")
def lab_database_url():
    return {notes_db!r}
'''
    suite = _suite(tmp_path, **{"conftest.py": conftest})
    result = lesson.run_suite(suite, env={"LAB_TEST_DATABASE_URL": "mysql://nobody@nowhere/none"})

    assert {t.name: t.outcome for t in result.tests} == EXPECTED, result.output[-3000:]


@pytest.mark.parametrize(("env", "conftest", "message"), [
    ({}, CONFTEST, "no test database: set LAB_TEST_DATABASE_URL"),
    ({"LAB_TEST_DATABASE_URL": "mysql://u@h/db"}, CONFTEST, "LAB_TEST_DATABASE_URL uses 'mysql'"),
    (None, "", "name your FastAPI app: lab_app = yourapp.main:app"),
    (None, "import pytest\n\n@pytest.fixture(scope='session')\ndef lab_app():\n    return 42\n",
     "name the dependency your routes take their database from: lab_session_dependency = yourapp.db:get_session"),
    (None, "import pytest\n\n@pytest.fixture(scope='session')\ndef lab_app():\n    return 42\n\n"
           "@pytest.fixture(scope='session')\ndef lab_session_dependency():\n    return print\n",
     "lab_app must return a FastAPI app"),
])
def test_misuse_gives_one_line_that_says_what_to_do(tmp_path: Path, notes_db: str, env: dict[str, str] | None,
                                                    conftest: str, message: str) -> None:
    tests = "async def test_it(lab_client):\n    pass\n"
    suite = _write(tmp_path, {"pytest.ini": _ini(), "notes_app.py": APP, "conftest.py": conftest,
                              "test_misuse.py": tests})
    environment = {"LAB_TEST_DATABASE_URL": notes_db} if env is None else {"LAB_TEST_DATABASE_URL": "", **env}
    result = lesson.run_suite(suite, env=environment)

    assert result.errors == 1, result.output[-3000:]
    assert message in result.messages[0], result.messages


def test_an_unreachable_database_fails_in_one_line(tmp_path: Path, lab_server) -> None:
    missing = databases_url(lab_server.url, f"t02u_missing_{secrets.token_hex(3)}")
    suite = _write(tmp_path, {"pytest.ini": _ini(), "notes_app.py": APP, "conftest.py": CONFTEST,
                              "test_x.py": "async def test_it(lab_client):\n    pass\n"})
    result = lesson.run_suite(suite, env={"LAB_TEST_DATABASE_URL": missing})

    assert result.errors == 1, result.output[-3000:]
    assert "labsupport: cannot connect to" in result.messages[0] and "does not exist" in result.messages[0]


def test_a_project_with_only_the_plugin_installed_sees_every_public_fixture(tmp_path: Path) -> None:
    from labsupport.pytest_plugin import transactional

    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = lesson.run_suite(tmp_path, "--fixtures")  # pytest's own list of the fixtures a test can ask for

    assert result.returncode == 0, result.output[-3000:]
    listed = {m.group(1): m.group(2) for m in re.finditer(r"^(lab_\w+)(?: \[\w+ scope\])? -- (\S+)$",
                                                           result.output, re.MULTILINE)}
    public = [name for name in transactional.__all__ if name.startswith("lab_")]
    assert public and set(public) <= set(listed), sorted(set(public) - set(listed))
    assert all("labsupport/pytest_plugin/" in listed[name] for name in public), listed
