"""How the plugin decides what a session dependency gives (``shapes.detect``), and how it opens a connection.

The decision comes from what is declared: the setting ``lab_session_shape``, the dependency's return
annotation, or a class used as the dependency; never from the dependency's source text. When nothing
decides, one line says what to add. The last tests run real suites on the lab's server: the shape
``connection`` opens ``connect()`` whatever the source says, ``begin`` (the setting) opens ``begin()``.
"""

from __future__ import annotations

import functools
import secrets
import textwrap
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from users_support import own_folders

from labsupport import databases, urls
from labsupport.connection import fetchval, run_sync
from labsupport.errors import LabError
from labsupport.pytest_plugin import shapes
from labsupport.teaching import lesson

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession as SessionForTheTypeCheckerOnly

engine = create_async_engine("postgresql+asyncpg://nobody@localhost/never_used")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


async def yields_a_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def yields_a_factory() -> AsyncGenerator[async_sessionmaker[AsyncSession], None]:
    yield SessionLocal


async def returns_a_factory() -> async_sessionmaker[AsyncSession]:
    return SessionLocal


def returns_an_engine() -> Annotated[AsyncEngine, "the app's engine"]:
    return engine


async def yields_a_connection() -> AsyncIterator[Annotated[AsyncConnection, "per request"]]:
    async with engine.connect() as conn:
        yield conn


class Sessions:
    """A callable object as the dependency: its ``__call__`` carries the annotation."""

    async def __call__(self) -> AsyncIterator[AsyncSession]:
        async with SessionLocal() as session:
            yield session


async def _per_tenant(tenant: str) -> AsyncIterator[AsyncSession]:
    async with SessionLocal(info={"tenant": tenant}) as session:
        yield session


class RequestSession(AsyncSession):
    """A class as the dependency (``Depends(RequestSession)``): FastAPI makes one per request."""

    def __init__(self) -> None:
        super().__init__(engine)


async def unannotated():  # the case under test: no annotation at all
    async with SessionLocal() as session:
        yield session


async def annotated_with_something_else() -> AsyncIterator[dict[str, Any]]:
    yield {}


async def annotated_with_a_name_missing_at_run_time() -> AsyncIterator[SessionForTheTypeCheckerOnly]:
    async with SessionLocal() as session:
        yield session


async def opens_with_begin() -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as conn:
        yield conn


async def opens_with_connect() -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        yield conn


async def unannotated_with_begin():  # the case under test: no annotation
    async with SessionLocal.begin() as session:
        yield session


@pytest.mark.parametrize(("dependency", "shape"), [
    (yields_a_session, "session"),
    (yields_a_factory, "sessionmaker"),
    (returns_a_factory, "sessionmaker"),
    (returns_an_engine, "engine"),
    (yields_a_connection, "connection"),
    (Sessions(), "session"),
    (functools.partial(_per_tenant, "acme"), "session"),
], ids=["AsyncIterator", "AsyncGenerator", "returned", "Annotated", "nested-Annotated", "__call__", "partial"])
def test_the_return_annotation_decides(dependency: Any, shape: str) -> None:
    assert shapes.detect(dependency, "dep") == shape


def test_a_class_as_the_dependency_decides_by_its_own_type() -> None:
    assert shapes.detect(RequestSession, "RequestSession") == "session"


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_the_setting_decides_even_without_an_annotation(shape: str) -> None:
    assert shapes.detect(unannotated, "unannotated", shape) == shape


def test_the_setting_wins_over_the_annotation() -> None:
    assert shapes.detect(yields_a_connection, "yields_a_connection", "begin") == "begin"


def test_a_setting_that_is_no_shape_is_refused_in_one_line() -> None:
    with pytest.raises(LabError) as caught:
        shapes.detect(yields_a_session, "yields_a_session", "sesion")
    assert str(caught.value) == ("lab_session_shape 'sesion' is not one of session, sessionmaker, engine, "
                                 "connection, begin")


HOW = ("annotate its return (-> AsyncIterator[AsyncSession], -> async_sessionmaker[AsyncSession], -> AsyncEngine or "
       "-> AsyncIterator[AsyncConnection]) or set lab_session_shape = session, sessionmaker, engine, connection or "
       "begin (a connection from engine.begin(), committed when the request ends)")
START = "cannot tell whether {} gives its routes a session, a session factory, an engine or a connection: "


@pytest.mark.parametrize(("dependency", "why"), [
    (unannotated, ""),
    (annotated_with_something_else, "its return annotation AsyncIterator[dict[str, Any]] names none of these; "),
    (annotated_with_a_name_missing_at_run_time, "its return annotation does not resolve at run time (NameError: "
                                                "name 'SessionForTheTypeCheckerOnly' is not defined); "),
    (print, ""),
], ids=["no-annotation", "another-type", "unresolved", "builtin"])
def test_when_nothing_decides_one_line_names_the_annotation_and_the_setting(dependency: Any, why: str) -> None:
    with pytest.raises(LabError) as caught:
        shapes.detect(dependency, "get_it")
    assert str(caught.value) == START.format("get_it") + why + HOW
    assert "\n" not in str(caught.value)


def test_begin_in_the_source_changes_no_decision() -> None:
    assert shapes.detect(opens_with_begin, "d") == shapes.detect(opens_with_connect, "d") == "connection"
    with pytest.raises(LabError, match="cannot tell whether unannotated_with_begin gives"):
        shapes.detect(unannotated_with_begin, "unannotated_with_begin")


# ---------------------------------------------------------------- real suites: connect() or begin()

CONNECTION_APP = '''
"""Routes that write without committing, on a connection dependency that opens engine.begin()."""
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

engine = create_async_engine("postgresql+asyncpg://nobody@localhost/replaced_by_the_test")
app = FastAPI()


async def get_connection() -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as conn:
        yield conn


async def get_connection_unannotated():
    async with engine.begin() as conn:
        yield conn


@app.post("/notes/{body}")
async def add(body: str, conn=Depends(get_connection)):
    await conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
    return {"written": body}
'''

CONNECTION_TEST = '''
import os

from sqlalchemy import text


async def test_a_route_that_does_not_commit(lab_client, lab_connection, lab_session_shape):
    assert (await lab_client.post("/notes/n")).status_code == 200
    rows = await lab_connection.scalar(text("SELECT count(*) FROM notes"))
    assert (lab_session_shape, rows) == (os.environ["EXPECTED_SHAPE"], int(os.environ["EXPECTED_ROWS"]))
'''

INI = ("[pytest]\naddopts = -p no:cacheprovider -p no:randomly\nasyncio_mode = auto\n"
       "asyncio_default_fixture_loop_scope = function\nlab_app = conn_app:app\n"
       "lab_session_dependency = conn_app:get_connection\n")


async def _make_database(admin_url: str, name: str) -> None:
    await databases.create(admin_url, name, replace=True)
    await fetchval(urls.with_database(admin_url, name), "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")


def _rows(url: str) -> int:
    return int(run_sync(fetchval(url, "SELECT count(*) FROM notes")))


@pytest.fixture
def notes_db(lab_server: Any) -> Iterator[str]:
    """A database of this test's own with an empty ``notes`` table; dropped afterwards."""
    name = f"tshape_{secrets.token_hex(4)}_test"
    run_sync(_make_database(lab_server.url, name))
    yield urls.with_database(lab_server.url, name)
    run_sync(databases.drop(lab_server.url, name))


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    for name, text in {"pytest.ini": INI, "conn_app.py": CONNECTION_APP, "test_it.py": CONNECTION_TEST}.items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return tmp_path


def _run(suite: Path, notes_db: str, expected: tuple[str, int], *args: str) -> lesson.SuiteResult:
    with own_folders() as folders:
        env = {**folders, "LAB_TEST_DATABASE_URL": notes_db, "EXPECTED_SHAPE": expected[0],
               "EXPECTED_ROWS": str(expected[1])}
        return lesson.run_suite(suite, "-n", "0", *args, env=env, scenarios=False)


def test_an_annotated_connection_dependency_gets_connect_whatever_its_source_opens(suite: Path, notes_db: str) -> None:
    result = _run(suite, notes_db, ("connection", 0))
    assert result.ok and result.passed == 1, result.output[-3000:]
    assert _rows(notes_db) == 0


def test_the_setting_begin_commits_each_request_inside_the_test(suite: Path, notes_db: str) -> None:
    result = _run(suite, notes_db, ("begin", 1), "-o", "lab_session_shape=begin")
    assert result.ok and result.passed == 1, result.output[-3000:]
    assert _rows(notes_db) == 0


def test_an_unannotated_dependency_without_the_setting_stops_in_one_line(suite: Path, notes_db: str) -> None:
    result = _run(suite, notes_db, ("", 0), "-o", "lab_session_dependency=conn_app:get_connection_unannotated")
    assert result.errors == 1 and result.passed == 0, result.output[-3000:]
    assert result.problems == ["Failed: labsupport: " + START.format("get_connection_unannotated") + HOW], \
        result.output[-3000:]
