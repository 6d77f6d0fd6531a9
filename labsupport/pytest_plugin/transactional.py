"""Rollback isolation for async SQLAlchemy + FastAPI tests: small fixtures, each an override point.

SQLAlchemy documents "Joining a Session into an External Transaction" for sync code; this is
the async version, as a chain of pytest fixtures (labsupport's pytest plugin registers them)::

    lab_database_url       session   which database (precedence below)
    lab_engine_options     session   extra create_async_engine options ({}; lesson 04 names the worker)
    lab_engine             session   an AsyncEngine with NullPool: bound to no event loop
    lab_connection         function  one connection per test, inside an outer transaction
    lab_session_factory    function  sessions on that connection, join_transaction_mode="create_savepoint"
    lab_session            function  the test's own session from that factory
    lab_app                session   YOUR FastAPI app (override it in conftest.py)
    lab_session_dependency session   YOUR session dependency, e.g. get_session (override it)
    lab_app_override       function  routes get a session from lab_session_factory, one per request
    lab_run_lifespan       session   False; override to True to run the app's lifespan (asgi-lifespan)
    lab_client             function  httpx.AsyncClient over ASGITransport, the override installed

The outer transaction is rolled back after each test, so the app's ``commit()`` calls only
release savepoints and nothing reaches the database for good. A learner's conftest.py needs two
fixtures, ``lab_app`` and ``lab_session_dependency``; every other link can be overridden too.

Where the database URL comes from, first match wins:
1. a ``lab_database_url`` fixture of your own (conftest.py);
2. the environment variable ``LAB_TEST_DATABASE_URL`` (a database that already has the schema);
3. otherwise the test errors with one line saying to do 1 or 2.
The fixtures never create, clean or drop a database: they only ever roll back.

Event loops (pytest-asyncio 1.x): ``lab_engine`` is a plain sync fixture with ``NullPool``, so it
holds no connection and belongs to no loop; each test opens its connection in the loop it runs
in. That works with any ``asyncio_default_test_loop_scope`` as long as
``asyncio_default_fixture_loop_scope`` names the same scope (a function-scoped async fixture runs
in the fixture loop scope's loop). The price is one new connection per test (a few ms on a local
server); if all your tests share one session loop you may override ``lab_engine`` with a pooled
engine made in a ``loop_scope="session"`` fixture.

Limits: every request of a test runs on the one connection, so requests must not run
concurrently (asyncpg: "another operation is in progress"), and nothing that needs a second
connection (locks between sessions, LISTEN/NOTIFY, a worker with its own engine) can see the
test's data. Use a database cloned from a template per test there (lesson 02, section 5).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from ..errors import LabError
from .options import fail, need

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

__all__ = [
    "URL_ENV", "lab_database_url", "lab_engine_options", "lab_engine", "lab_connection", "lab_session_factory",
    "lab_session", "lab_app", "lab_session_dependency", "lab_app_override", "lab_run_lifespan", "lab_client",
]

URL_ENV = "LAB_TEST_DATABASE_URL"
_MISSING = object()


@pytest.fixture(scope="session")
def lab_database_url() -> str:
    """The test database: override this fixture, or set LAB_TEST_DATABASE_URL."""
    from .. import urls

    text = os.environ.get(URL_ENV, "").strip()
    if not text:
        fail(f"labsupport: no test database: set {URL_ENV} to a PostgreSQL database that has your schema, "
               "or define a lab_database_url fixture in conftest.py")
    try:
        return urls.parse(text, what=URL_ENV).render_as_string(hide_password=False)
    except LabError as exc:
        fail(f"labsupport: {exc}")


@pytest.fixture(scope="session")
def lab_engine_options() -> dict[str, Any]:
    """Extra ``create_async_engine`` options for ``lab_engine``, e.g. ``connect_args``: override to add some."""
    return {}


@pytest.fixture(scope="session")
def lab_engine(lab_database_url: str, lab_engine_options: dict[str, Any]) -> Iterator[AsyncEngine]:
    """One engine per test session; NullPool keeps it free of any event loop (see the module doc)."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(lab_database_url, poolclass=NullPool, **lab_engine_options)
    yield engine
    engine.sync_engine.dispose()  # NullPool holds nothing open: no await, so no loop needed


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    """engine.connect(), with a failure turned into one line that names the database."""
    from sqlalchemy.exc import DBAPIError

    try:
        return await engine.connect()
    except (OSError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"labsupport: cannot connect to {engine.url.render_as_string()}: {reason}")


@pytest_asyncio.fixture
async def lab_connection(lab_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection per test inside an outer transaction, rolled back afterwards."""
    connection = await _connect(lab_engine)
    outer = await connection.begin()
    yield connection
    try:
        if outer.is_active:
            await outer.rollback()  # whatever the test and the app wrote: gone
    finally:
        await connection.close()


@pytest.fixture
def lab_session_factory(lab_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection; their commit() and rollback() only touch a savepoint."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(bind=lab_connection, join_transaction_mode="create_savepoint",
                              expire_on_commit=False)


@pytest_asyncio.fixture
async def lab_session(lab_session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """The test's own session: what it adds and commits, the routes see; nothing outlives the test."""
    async with lab_session_factory() as session:
        yield session


@pytest.fixture(scope="session")
def lab_app() -> Any:
    """Your FastAPI app: override this fixture in conftest.py."""
    fail("labsupport: define a lab_app fixture in conftest.py that returns your FastAPI app")


@pytest.fixture(scope="session")
def lab_session_dependency() -> Callable[..., Any]:
    """The dependency your routes take their session from (e.g. ``get_session``): override this fixture."""
    fail("labsupport: define a lab_session_dependency fixture in conftest.py that returns "
           "the dependency your routes use for a session, e.g. get_session")


@pytest.fixture
def lab_app_override(lab_app: Any, lab_session_dependency: Callable[..., Any],
                     lab_session_factory: async_sessionmaker[AsyncSession]) -> Iterator[Callable[..., Any]]:
    """Routes get a fresh session per request on the test's connection; the old override comes back after."""
    overrides = getattr(lab_app, "dependency_overrides", None)
    if not isinstance(overrides, dict) or not callable(lab_session_dependency):
        fail("labsupport: lab_app must return a FastAPI app and lab_session_dependency "
               f"a callable, got {type(lab_app).__name__} and {type(lab_session_dependency).__name__}")

    async def session_for_request() -> AsyncIterator[AsyncSession]:
        async with lab_session_factory() as session:
            yield session

    previous = overrides.get(lab_session_dependency, _MISSING)
    overrides[lab_session_dependency] = session_for_request
    yield session_for_request
    if previous is _MISSING:
        overrides.pop(lab_session_dependency, None)
    else:
        overrides[lab_session_dependency] = previous


@pytest.fixture(scope="session")
def lab_run_lifespan() -> bool:
    """Whether lab_client runs the app's lifespan (startup and shutdown) around each test."""
    return False


@pytest_asyncio.fixture
async def lab_client(lab_app: Any, lab_app_override: Callable[..., Any],
                     lab_run_lifespan: bool) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process; ASGITransport alone never runs the lifespan."""
    httpx = need("httpx", "httpx", "lab_client")
    async with contextlib.AsyncExitStack() as stack:
        app = lab_app
        if lab_run_lifespan:
            lifespan = need("asgi_lifespan", "asgi-lifespan", "lab_client with lab_run_lifespan")
            app = (await stack.enter_async_context(lifespan.LifespanManager(lab_app))).app
        transport = httpx.ASGITransport(app=app)
        yield await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://lab.test"))
