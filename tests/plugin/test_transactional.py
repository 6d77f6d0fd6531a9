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


# ---------------------------------------------------------------- each link overridden by name

LINKS = '''
"""What the overrides of this suite made, for the tests to compare the chain with."""
MINE: list = []
'''
OVERRIDES = {
    "lab_engine": ('''
@pytest.fixture(scope="session")
def lab_engine():
    engine = create_async_engine(os.environ["LAB_TEST_DATABASE_URL"], poolclass=NullPool)
    links.MINE.append(engine)
    return engine
''', "lab_connection.engine is links.MINE[0]"),
    "lab_connection": ('''
@pytest_asyncio.fixture
async def lab_connection():
    engine = create_async_engine(os.environ["LAB_TEST_DATABASE_URL"], poolclass=NullPool)
    async with engine.connect() as connection:
        await connection.begin()
        links.MINE.append(connection)
        yield connection
        await connection.rollback()
    await engine.dispose()
''', "lab_connection is links.MINE[-1]"),
    "lab_session_factory": ('''
@pytest.fixture
def lab_session_factory(lab_connection):
    factory = async_sessionmaker(bind=lab_connection, join_transaction_mode="create_savepoint", info={"mine": 1})
    links.MINE.append(factory)
    return factory
''', "lab_session_factory is links.MINE[-1] and lab_session.info == {'mine': 1}"),
    "lab_session": ('''
@pytest_asyncio.fixture
async def lab_session(lab_session_factory):
    async with lab_session_factory(info={"mine": 2}) as session:
        links.MINE.append(session)
        yield session
''', "lab_session is links.MINE[-1] and lab_session.info == {'mine': 2}"),
}
OVERRIDE_TESTS = '''
from sqlalchemy import text

import links

SESSIONS = []


async def test_a_the_chain_sits_on_the_override(lab_connection, lab_session_factory, lab_session, lab_client):
    assert {check}
    assert lab_session_factory.kw["bind"] is lab_connection and lab_session.bind is lab_connection
    assert (await lab_client.post("/notes/from-the-route")).status_code == 200
    assert (await lab_session.execute(text("SELECT body FROM notes"))).scalars().all() == ["from-the-route"]
    SESSIONS.append(lab_session)


async def test_b_the_session_was_closed_and_the_row_rolled_back(lab_session):
    assert not SESSIONS[0].in_transaction()
    assert (await lab_session.execute(text("SELECT count(*) FROM notes"))).scalar() == 0
'''
OVERRIDE_IMPORTS = '''
import os

import pytest_asyncio
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import links
'''


@pytest.mark.parametrize("loop_scope", ["function", "session"])
@pytest.mark.parametrize("link", list(OVERRIDES))
def test_every_link_overridden_by_name_still_gives_one_chain(tmp_path: Path, notes_db: str, link: str,
                                                             loop_scope: str) -> None:
    fixture, check = OVERRIDES[link]
    suite = _suite(tmp_path, loop_scope, **{"links.py": LINKS, "conftest.py": CONFTEST + OVERRIDE_IMPORTS + fixture,
                                            "test_notes.py": OVERRIDE_TESTS.replace("{check}", check)})
    result = lesson.run_suite(suite, "-p", "no:randomly", env={"LAB_TEST_DATABASE_URL": notes_db})

    assert result.ok and result.passed == 2, result.output[-3000:]
    assert _rows_left(notes_db) == 0


# ---------------------------------------------------------------- the app's commit, a failing test

COMMIT_APP = '''
"""A get_db that commits after its yield, on a module-level factory of the app's own engine."""
import os
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine(os.environ["LAB_TEST_DATABASE_URL"])
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()


async def get_db() -> AsyncIterator[AsyncSession]:
    session = SessionLocal()
    try:
        yield session
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    finally:
        await session.close()


@app.post("/notes/{body}")
async def add(body: str, session=Depends(get_db)):
    await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
    return {"saved": body}
'''
COMMIT_CONFTEST = '''
import pytest
from sqlalchemy import event

import commit_app

SENT = []


@pytest.fixture(scope="session")
def lab_app():
    return commit_app.app


@pytest.fixture(scope="session")
def lab_session_dependency():
    return commit_app.get_db


@pytest.fixture(scope="session", autouse=True)
def record_statements(lab_engine):
    event.listen(lab_engine.sync_engine, "before_cursor_execute", lambda *args: SENT.append(args[2]))
'''
COMMIT_TESTS = '''
from sqlalchemy import text

from conftest import SENT

KEPT = []


async def count(session):
    return await session.scalar(text("SELECT count(*) FROM notes"))


async def test_a_each_commit_of_the_app_releases_its_savepoint(lab_session, lab_client):
    for body in ("first", "second"):
        SENT.clear()
        assert (await lab_client.post(f"/notes/{body}")).status_code == 200
        kinds = [s.split()[0] for s in SENT]
        assert kinds == ["SAVEPOINT", "INSERT", "RELEASE"], SENT
    assert await count(lab_session) == 2
    KEPT.append(lab_session)
    SENT.append("-- the end of test_a")


async def test_b_closing_the_test_session_sent_nothing_after_the_rollback():
    after = SENT[SENT.index("-- the end of test_a") + 1:]
    assert not any(s.startswith("ROLLBACK") for s in after), after
    assert not KEPT[0].in_transaction()


async def test_c_fails_after_the_app_committed(lab_session, lab_client):
    await lab_session.execute(text("INSERT INTO notes (body) VALUES ('from the test')"))
    await lab_session.commit()
    assert (await lab_client.post("/notes/left-by-a-failed-test")).status_code == 200
    assert False, "fails on purpose"


async def test_d_the_next_test_sees_zero_rows(lab_session):
    assert await count(lab_session) == 0
'''


@pytest.mark.parametrize("loop_scope", ["function", "session"])
def test_the_app_s_commit_releases_a_savepoint_and_a_failed_test_leaves_nothing(tmp_path: Path, notes_db: str,
                                                                                loop_scope: str) -> None:
    suite = _suite(tmp_path, loop_scope, **{"commit_app.py": COMMIT_APP, "conftest.py": COMMIT_CONFTEST,
                                            "test_notes.py": COMMIT_TESTS})
    result = lesson.run_suite(suite, "-p", "no:randomly", env={"LAB_TEST_DATABASE_URL": notes_db})

    outcomes = {t.name: t.outcome for t in result.tests}
    assert outcomes == {"test_a_each_commit_of_the_app_releases_its_savepoint": "passed",
                        "test_b_closing_the_test_session_sent_nothing_after_the_rollback": "passed",
                        "test_c_fails_after_the_app_committed": "failed",
                        "test_d_the_next_test_sees_zero_rows": "passed"}, result.output[-3000:]
    assert "fails on purpose" in result.messages[0]
    assert _rows_left(notes_db) == 0


CLIENT_TESTS = '''
SEEN = []


async def test_a_sets_a_cookie_and_a_header(lab_client):
    lab_client.cookies.set("who", "test_a")
    lab_client.headers["X-Test"] = "a"
    SEEN.append(lab_client)
    assert (await lab_client.get("/notes")).json() == []


async def test_b_gets_a_client_of_its_own_over_the_same_transport(lab_client):
    assert lab_client is not SEEN[0] and lab_client._transport is SEEN[0]._transport
    assert "who" not in lab_client.cookies and "X-Test" not in lab_client.headers
    assert str(lab_client.base_url) == "http://lab.test"
    assert (await lab_client.get("/notes")).json() == []
'''


def test_each_test_gets_its_own_client_over_the_run_s_one_transport(tmp_path: Path, notes_db: str) -> None:
    suite = _suite(tmp_path, **{"test_notes.py": CLIENT_TESTS})
    result = lesson.run_suite(suite, "-p", "no:randomly", env={"LAB_TEST_DATABASE_URL": notes_db})

    assert result.ok and result.passed == 2, result.output[-3000:]


# ---------------------------------------------------------------- what each test sets up

SHAPE_TESTS = '''
import pytest
from sqlalchemy import text


async def test_a_writes(lab_session):
    await lab_session.execute(text("INSERT INTO notes (body) VALUES ('written')"))
    await lab_session.commit()


def test_b_touches_no_database():
    pass


class TestOwnFactory:
    @pytest.fixture
    def lab_session_factory(self, lab_connection):
        from sqlalchemy.ext.asyncio import async_sessionmaker

        return async_sessionmaker(bind=lab_connection, join_transaction_mode="create_savepoint", info={"mine": 1})

    async def test_c_gets_the_class_s_factory(self, lab_session):
        assert lab_session.info == {"mine": 1}


async def test_d_gets_the_plugin_s_session_again(lab_session):
    assert lab_session.info == {}
    assert await lab_session.scalar(text("SELECT count(*) FROM notes")) == 0


async def test_e_asks_for_the_session_then_the_connection(lab_session, lab_connection):
    assert lab_session.bind is lab_connection
    await lab_connection.execute(text("INSERT INTO notes (body) VALUES ('by the connection')"))
    assert await lab_session.scalar(text("SELECT count(*) FROM notes")) == 1
'''


def _set_up(output: str, test: str) -> list[str]:
    """The plugin's function-scoped fixtures ``--setup-show`` says were set up for one test (SETUP lines
    before it), sorted."""
    names: list[str] = []
    for line in output.splitlines():
        found = re.match(r"\s+SETUP\s+F (_?lab_\w+)", line)
        if found:
            names.append(found.group(1))
        elif f"::{test}" in line:
            return sorted(names)
        elif "TEARDOWN" in line:
            names = [n for n in names if f"TEARDOWN F {n}" not in line]
    raise AssertionError(f"{test} is not in the output:\n{output[-3000:]}")


@pytest.mark.parametrize("loop_scope", ["function", "session"])
def test_a_test_sets_up_only_the_links_it_uses(tmp_path: Path, notes_db: str, loop_scope: str) -> None:
    """In the session loop lab_session is the one link a test sets up (it opens the connection itself), in a
    function loop lab_connection is an async fixture in that loop; no redirect links without a setting; the
    links in between join where a class (or a conftest, a module, a parameter) overrides one of them."""
    suite = _suite(tmp_path, loop_scope, **{"test_notes.py": SHAPE_TESTS})
    result = lesson.run_suite(suite, "-p", "no:randomly", "--setup-show", env={"LAB_TEST_DATABASE_URL": notes_db})

    assert result.ok and result.passed == 5, result.output[-3000:]
    engine = "lab_pooled_engine" if loop_scope == "session" else "lab_nullpool_engine"  # tests of lab_session count
    assert re.search(rf"SETUP\s+S {engine}\b", result.output), result.output[-3000:]
    links = ["lab_connection", "lab_session"]
    chain = ["lab_session"] if loop_scope == "session" else sorted([*links, "_lab_connection_in_test_loop"])
    assert _set_up(result.output, "test_a_writes") == chain
    assert _set_up(result.output, "test_b_touches_no_database") == []
    assert _set_up(result.output, "test_c_gets_the_class_s_factory") == sorted(
        [*links, "lab_session_factory"] + (["_lab_connection_in_test_loop"] if loop_scope == "function" else []))
    assert _set_up(result.output, "test_d_gets_the_plugin_s_session_again") == chain
    assert _set_up(result.output, "test_e_asks_for_the_session_then_the_connection") == sorted(set([*chain, *links]))
    assert _rows_left(notes_db) == 0
