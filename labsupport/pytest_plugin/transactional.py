"""Rollback isolation for async SQLAlchemy + FastAPI tests: small fixtures, each an override point.

SQLAlchemy documents "Joining a Session into an External Transaction" for sync code; this is
the async version, as a chain of pytest fixtures (labsupport's pytest plugin registers them)::

    lab_database_url       session   which database (precedence below)
    lab_engine_options     session   extra create_async_engine options ({}; lesson 04 names the worker)
    lab_engine             session   pooled in the session loop if the tests share it, else NullPool
    lab_connection         function  one connection per test, inside an outer transaction
    lab_session_factory    function  sessions on that connection, join_transaction_mode="create_savepoint"
    lab_session            function  the test's own session (from that factory if you override it), closed by
                                     lab_connection
    lab_joined_engine      function  an AsyncEngine whose connections are savepoints on lab_connection
    lab_app                session   YOUR FastAPI app: ini lab_app = app.main:app, or a fixture
    lab_session_dependency session   YOUR dependency: ini lab_session_dependency = app.db:get_session
    lab_session_shape      function  what that dependency gives: session, sessionmaker, engine, connection, begin
    lab_app_override       function  routes get the test's connection in the dependency's own shape (a session
                                     dependency with code after its yield runs as written, its factory bound there)
    lab_redirect_targets   function  lab_session_factory_targets point at the test's connection (every test,
                                     once that is set: redirect_every_test)
    lab_override_providers function  lab_container_providers give lab_joined_engine or the factory (the same)
    lab_run_lifespan       session   ini lab_run_lifespan (false): run the app's lifespan (asgi-lifespan)
    lab_client             function  a new httpx.AsyncClient over the run's ASGITransport, the override installed

The outer transaction is rolled back after each test, so the app's ``commit()`` calls only
release savepoints and nothing reaches the database for good.

What a test pays for it: pytest sets up every fixture in a test's closure, and every ``request``
argument in it, again for each test, and pytest-asyncio runs each async fixture's setup and teardown
as trips of their own through its runner. So the common path is short and has no async fixture:
``lab_connection`` opens and closes its connection in the session loop itself when the engine is
the pooled one born there, ``lab_session`` makes its session without a factory fixture unless you
override ``lab_session_factory``, the redirect links join a test only when a setting names targets,
and what does not change during a run (the client's transport and base URL, whether the dependency
runs code after its yield, the dependency's shape) is worked out once. A project names its app and its
dependency in pytest's configuration (``lab_app``, ``lab_session_dependency``, or
``lab_session_factory_targets`` for a module-level session factory); fixtures of those names in
conftest.py still win, and every other link can be overridden too.

Where the database URL comes from, first match wins:
1. a ``lab_database_url`` fixture of your own (conftest.py);
2. the worker's own database, once ``lab_metadata`` is set (``workers``);
3. the setting ``lab_database_url`` (flag, ini; a URL, ``env:VAR`` or ``module:attribute``),
   else the environment variable ``LAB_TEST_DATABASE_URL`` (a database that already has the schema);
4. otherwise the test errors with one line saying what to set.
The fixtures never create, clean or drop a database: they only ever roll back.

Event loops (pytest-asyncio 1.x, anyio): when every test that uses ``lab_engine`` runs in the
session loop its fixtures run in (``asyncio_default_fixture_loop_scope = session`` and
``asyncio_default_test_loop_scope = session``; for anyio-marked tests a session-scoped
``anyio_backend``), ``lab_engine`` is ``lab_pooled_engine``, born in that loop. Otherwise it is a
plain sync fixture with ``NullPool``: it holds no connection and belongs to no loop, and each test
opens its connection in the loop it runs in, at the price of one new connection per test.
``engines.choose`` decides; the report header says which and why.

Limits: every request of a test runs on the one connection, so requests must not run
concurrently (asyncpg: "another operation is in progress"), and nothing that needs a second
connection (locks between sessions, LISTEN/NOTIFY, a worker with its own engine) can see the
test's data. Use a database cloned from a template per test there (lesson 02, section 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from . import engines, shapes
from .options import (
    expand,
    fail,
    failing_on_lab_error,
    fixture_seen_by,
    import_hint,
    need,
    resolve_object,
    resolve_url,
)
from .settings_table import Setting, plugin_settings, spec

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, AsyncTransaction, async_sessionmaker

__all__ = [
    "URL_ENV", "lab_database_url", "lab_engine_options", "lab_engine", "lab_connection", "_lab_connection_in_test_loop",
    "lab_session_factory",
    "lab_session", "_lab_closing_session", "lab_joined_engine", "lab_app", "lab_session_dependency", "lab_session_shape",
    "lab_app_override", "lab_redirect_targets", "lab_override_providers", "lab_run_lifespan", "lab_client",
    "_lab_lifespan_client",
]

URL_ENV = spec("lab_database_url").env  # LAB_TEST_DATABASE_URL
_MISSING = object()


@pytest.fixture(scope="session")
def lab_database_url(request: pytest.FixtureRequest) -> str:
    """The test database: the setting lab_database_url, else LAB_TEST_DATABASE_URL; or override this fixture."""
    from .. import urls

    setting = plugin_settings(request.config).lab_database_url
    if not setting.value:
        fail(f"labsupport: no test database: set {URL_ENV} to a PostgreSQL database that has your schema "
             "(or the ini option lab_database_url), or set lab_metadata = yourapp.models:Base.metadata for "
             "a database per worker, or define a lab_database_url fixture in conftest.py")
    what = URL_ENV if setting.source == f"env {URL_ENV}" else f"lab_database_url ({setting.source})"
    with failing_on_lab_error():
        text = resolve_url(setting.value, "lab_database_url", setting.source, import_hint(request.config))
        return urls.parse(text, what=what).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def lab_engine_options() -> dict[str, Any]:
    """Extra ``create_async_engine`` options for ``lab_engine``, e.g. ``connect_args``: override to add some."""
    return {}


@pytest.fixture(scope="session")
def lab_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """One engine per test session: pooled in the session loop if the tests share it, else NullPool."""
    choice = request.config.stash.get(engines.POOLED, None) or engines.choose(request.config)
    return request.getfixturevalue("lab_pooled_engine" if choice.pooled else "lab_nullpool_engine")


async def _connect(engine: AsyncEngine) -> AsyncConnection:
    """engine.connect(), with a failure turned into one line that names the database."""
    from sqlalchemy.exc import DBAPIError

    try:
        return await engine.connect()
    except (OSError, DBAPIError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        fail(f"labsupport: cannot connect to {engine.url.render_as_string()}: {reason}")


@dataclass
class _TestConnection:
    """The chain's connection of one test, its outer transaction, and the sessions lab_session opened on it."""

    connection: AsyncConnection
    outer: AsyncTransaction
    sessions: list[AsyncSession] = field(default_factory=list)

    @classmethod
    async def open(cls, engine: AsyncEngine) -> _TestConnection:
        connection = await _connect(engine)
        return cls(connection, await connection.begin())

    async def close(self) -> None:
        """Roll back whatever the test and the app wrote, then close: the sessions' savepoints went with
        the rollback, so closing them sends nothing to the server."""
        try:
            if self.outer.is_active:
                await self.outer.rollback()
        finally:
            try:
                for session in self.sessions:
                    await session.close()
            finally:
                await self.connection.close()


_HELD = pytest.StashKey[_TestConnection]()


@contextlib.contextmanager
def _opened_in(loop: asyncio.AbstractEventLoop, engine: AsyncEngine, request: pytest.FixtureRequest) -> Iterator[_TestConnection]:
    """The test's connection opened and closed in ``loop`` by a sync fixture, ``loop.run_until_complete``
    while the loop is idle between tests: pytest-asyncio's runner would cost two trips of its own."""
    held = request.node.stash[_HELD] = loop.run_until_complete(_TestConnection.open(engine))
    try:
        yield held
    finally:
        del request.node.stash[_HELD]
        loop.run_until_complete(held.close())


@pytest.fixture
def lab_connection(request: pytest.FixtureRequest, lab_engine: AsyncEngine) -> Iterator[AsyncConnection]:
    """One connection per test inside an outer transaction, rolled back afterwards.

    On the fast path (``lab_pooled_engine``, the test in the session loop) it opens and closes the
    connection in that loop itself; any other engine or loop gets ``_lab_connection_in_test_loop``,
    the same steps as an async fixture in the test's own loop. When lab_session opened the test's
    connection first, this is that connection, and lab_session closes it."""
    held = request.node.stash.get(_HELD, None)
    if held is not None:
        yield held.connection
        return
    loop = engines.idle_birth_loop(lab_engine, request.node)
    if loop is None:
        yield request.getfixturevalue("_lab_connection_in_test_loop")
        return
    with _opened_in(loop, lab_engine, request) as held:
        yield held.connection


@pytest_asyncio.fixture
async def _lab_connection_in_test_loop(request: pytest.FixtureRequest,
                                       lab_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """lab_connection in the loop the test runs in: NullPool, an engine of your own, anyio."""
    held = request.node.stash[_HELD] = await _TestConnection.open(lab_engine)
    try:
        yield held.connection
    finally:
        del request.node.stash[_HELD]
        await held.close()


_SESSION_OPTIONS: dict[str, Any] = {"join_transaction_mode": "create_savepoint", "expire_on_commit": False}


@pytest.fixture
def lab_session_factory(lab_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection; their commit() and rollback() only touch a savepoint."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(bind=lab_connection, **_SESSION_OPTIONS)


@pytest.fixture
def lab_session(request: pytest.FixtureRequest) -> Iterator[AsyncSession]:
    """The test's own session: what it adds and commits, the routes see; nothing outlives the test.

    The chain's one fixture on the fast path: when neither lab_connection nor lab_session_factory is
    overridden (a conftest.py, a module, a class, a parameter) and the engine is the pooled one of the
    session loop the test runs in, it opens the test's connection itself (lab_connection, if the test
    asks for it too, is that connection) and makes its session on it. Otherwise it takes the session from
    those links: from lab_session_factory, or made on lab_connection. Either way the connection's
    teardown closes the session after the rollback, which sends nothing to the server; a factory that is
    not bound to the chain's own connection gets its session from _lab_closing_session, which closes it."""
    from sqlalchemy.ext.asyncio import AsyncSession

    held = request.node.stash.get(_HELD, None)
    links_ours = _plugins_own(request, "lab_connection") and _plugins_own(request, "lab_session_factory")
    if held is None and links_ours:
        engine: AsyncEngine = request.getfixturevalue("lab_engine")
        loop = engines.idle_birth_loop(engine, request.node)
        if loop is not None:
            with _opened_in(loop, engine, request) as held:
                session = AsyncSession(bind=held.connection, **_SESSION_OPTIONS)
                held.sessions.append(session)
                yield session
            return
    connection: AsyncConnection = request.getfixturevalue("lab_connection")
    held = request.node.stash.get(_HELD, None)
    ours = held is not None and held.connection is connection
    if ours and links_ours:
        session = AsyncSession(bind=connection, **_SESSION_OPTIONS)
    else:
        factory: async_sessionmaker[AsyncSession] = request.getfixturevalue("lab_session_factory")
        if not ours or getattr(factory, "kw", {}).get("bind") is not connection:
            yield request.getfixturevalue("_lab_closing_session")
            return
        session = factory()
    assert held is not None
    held.sessions.append(session)
    yield session


_OWN = pytest.StashKey[dict[tuple[str, str], bool]]()


def _plugins_own(request: pytest.FixtureRequest, name: str) -> bool:
    """Whether the test gets this module's fixture ``name``: nothing overrides it where the test lives
    and the test does not parametrize it. Looked up once per module or class."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and name in callspec.params:
        return False
    parent = request.node.parent
    known = request.config.stash.setdefault(_OWN, {})
    key = (name, parent.nodeid if parent is not None else "")
    if key not in known:
        seen = fixture_seen_by(request.node, name)
        known[key] = seen is not None and getattr(seen.func, "__module__", None) == __name__
    return known[key]


@pytest_asyncio.fixture
async def _lab_closing_session(lab_session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """lab_session on a factory of someone else's connection: a session closed at the end of the test."""
    async with lab_session_factory() as session:
        yield session


@pytest_asyncio.fixture
async def lab_joined_engine(lab_connection: AsyncConnection) -> AsyncIterator[AsyncEngine]:
    """An engine for the app: each of its connections is a savepoint inside the test's outer transaction."""
    engine = await shapes.joined_engine(lab_connection)
    yield engine
    engine.sync_engine.dispose()  # lends the test's connection, never closes it


def _setting(request: pytest.FixtureRequest, name: str, example: str) -> Any:
    """The object an ini option names (``module:attribute``, or ``env:VAR`` naming one); None if unset."""
    setting: Setting = getattr(plugin_settings(request.config), name)
    if not setting.value:
        return None
    with failing_on_lab_error():
        return resolve_object(setting.value, name, example, setting.source, import_hint(request.config))


@pytest.fixture(scope="session")
def lab_app(request: pytest.FixtureRequest) -> Any:
    """Your FastAPI app (or a function that makes it): the ini option lab_app, or override this fixture."""
    app = _setting(request, "lab_app", "app.main:app")
    if app is None:
        fail("labsupport: name your FastAPI app: lab_app = yourapp.main:app in pytest's configuration "
             "(or define a lab_app fixture in conftest.py)")
    if not hasattr(app, "dependency_overrides") and inspect.isfunction(app):
        app = app()  # an app factory, create_app()
    return app


@pytest.fixture(scope="session")
def lab_session_dependency(request: pytest.FixtureRequest) -> Callable[..., Any] | None:
    """The dependency your routes take their database from (e.g. ``get_session``): the ini option, or a fixture."""
    return _setting(request, "lab_session_dependency", "app.db:get_session")


@pytest.fixture
def lab_session_shape(request: pytest.FixtureRequest, lab_session_dependency: Callable[..., Any] | None) -> str | None:
    """session, sessionmaker, engine, connection or begin: the setting lab_session_shape, else the
    dependency's return annotation or its own type (``shapes.detect``)."""
    if lab_session_dependency is None:
        return None
    explicit = plugin_settings(request.config).lab_session_shape.value.strip()
    name = getattr(lab_session_dependency, "__qualname__", repr(lab_session_dependency))
    with failing_on_lab_error():
        shape: str = _per_run(request.config, "shape", lab_session_dependency,
                              lambda dependency: shapes.detect(dependency, name, explicit))
        return shape


_PER_RUN = pytest.StashKey[dict[tuple[str, int], tuple[Any, Any]]]()


def _per_run(config: pytest.Config, what: str, obj: Any, make: Callable[[Any], Any]) -> Any:
    """``make(obj)`` once per run, for what cannot change while it runs (a dependency's shape, what its
    source says, an app's transport). The entry keeps ``obj`` alive, so no later object takes its id."""
    known = config.stash.setdefault(_PER_RUN, {})
    key = (what, id(obj))
    if key not in known:
        known[key] = (obj, make(obj))
    return known[key][1]


def _stand_in(shape: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """What the app gets instead of its dependency, in the dependency's own shape, on the test's connection."""
    if shape in ("session", "sessionmaker"):
        factory: async_sessionmaker[AsyncSession] = request.getfixturevalue("lab_session_factory")
    if shape == "session":
        async def session_for_request() -> AsyncIterator[AsyncSession]:
            async with factory() as session:
                yield session
        return session_for_request
    if shape == "sessionmaker":
        async def the_test_factory() -> async_sessionmaker[AsyncSession]:
            return factory
        return the_test_factory
    joined: AsyncEngine = request.getfixturevalue("lab_joined_engine")
    if shape == "engine":
        async def the_joined_engine() -> AsyncEngine:
            return joined
        return the_joined_engine
    opener = joined.begin if shape == "begin" else joined.connect  # begin: committed when the request ends

    async def connection_for_request() -> AsyncIterator[AsyncConnection]:
        async with opener() as connection:
            yield connection
    return connection_for_request


@pytest.fixture
def lab_app_override(request: pytest.FixtureRequest, lab_app: Any,
                     lab_session_dependency: Callable[..., Any] | None) -> Iterator[Callable[..., Any] | None]:
    """Routes get the test's connection in the dependency's own shape; the old override comes back after.

    Whether the dependency's own code goes on after its yield (read from its source) is read once per run."""
    overrides = getattr(lab_app, "dependency_overrides", None)
    settings = plugin_settings(request.config)
    redirected = (settings.lab_session_factory_targets, settings.lab_container_providers)
    if lab_session_dependency is None and any(setting.value for setting in redirected):
        yield None  # no FastAPI dependency to replace: the targets or providers already give the test's connection
        return
    if lab_session_dependency is None:
        fail("labsupport: name the dependency your routes take their database from: lab_session_dependency = "
             "yourapp.db:get_session in pytest's configuration (or a lab_session_dependency fixture), or "
             "lab_session_factory_targets = yourapp.db:async_session_maker if the app imports its factory")
    if not isinstance(overrides, dict) or not callable(lab_session_dependency):
        fail("labsupport: lab_app must return a FastAPI app and lab_session_dependency "
               f"a callable, got {type(lab_app).__name__} and {type(lab_session_dependency).__name__}")

    shape = request.getfixturevalue("lab_session_shape")
    if shape == "session" and _per_run(request.config, "runs after yield", lab_session_dependency,
                                       shapes.runs_after_yield):
        with _own_code(request, lab_session_dependency):
            yield None  # the app's own dependency runs, on a factory bound to the test's connection
        return
    stand_in = _stand_in(shape, request)
    previous = overrides.get(lab_session_dependency, _MISSING)
    overrides[lab_session_dependency] = stand_in
    yield stand_in
    if previous is _MISSING:
        overrides.pop(lab_session_dependency, None)
    else:
        overrides[lab_session_dependency] = previous


@contextlib.contextmanager
def _own_code(request: pytest.FixtureRequest, dependency: Callable[..., Any]) -> Iterator[None]:
    """A session dependency with code after its yield (commit, rollback, close) is not replaced:
    the session factories and engines it names point at the test's connection, so its commit
    releases a savepoint. lab_session_factory_targets, when set, already point them there."""
    if plugin_settings(request.config).lab_session_factory_targets.value:
        yield
        return
    with failing_on_lab_error():
        found = [shapes.check_target(name, obj) for name, obj in shapes.factories_in(dependency)]
    if not found:
        name = f"{getattr(dependency, '__module__', '?')}:{getattr(dependency, '__qualname__', dependency)}"
        fail(f"labsupport: {name} runs code after its yield (a commit, rollback or close) that replacing it "
             "would skip, and it names no module-level async_sessionmaker or AsyncEngine the plugin can point "
             "at the test's connection: name the factory it uses with lab_session_factory_targets = "
             "yourapp.db:SessionLocal (module:attribute)")
    with _redirecting(request, found):
        yield


@contextlib.contextmanager
def _redirecting(request: pytest.FixtureRequest, targets: list[tuple[str, Any]]) -> Iterator[None]:
    """``shapes.redirect`` onto this test's connection (and its joined engine, if a target is an engine)."""
    connection: AsyncConnection = request.getfixturevalue("lab_connection")
    needs_engine = any(shapes.shape_of_type(type(obj)) == "engine" for _, obj in targets)
    engine = request.getfixturevalue("lab_joined_engine") if needs_engine else None
    with shapes.redirect(targets, connection, engine):
        yield


def _listed(setting: Setting, what: str) -> list[str]:
    """A ``list`` setting's ``module:attribute`` names (spaces or commas between)."""
    return expand(setting.value, what, setting.source).replace(",", " ").split()


def _targets(request: pytest.FixtureRequest) -> list[tuple[str, Any]]:
    """Each ``module:attribute`` of lab_session_factory_targets (spaces or commas between), with its object."""
    setting = plugin_settings(request.config).lab_session_factory_targets
    with failing_on_lab_error():
        names = _listed(setting, "lab_session_factory_targets")
        return [shapes.check_target(n, resolve_object(n, "lab_session_factory_targets", "app.db:async_session_maker", setting.source,
                                                      import_hint(request.config))) for n in names]


@pytest.fixture
def lab_redirect_targets(request: pytest.FixtureRequest) -> Iterator[None]:
    """With lab_session_factory_targets set, every test runs inside the outer transaction: the app's
    module-level session factories (and engines) point at lab_connection until the test ends
    (``redirect_every_test`` requests this fixture in every test then)."""
    if not plugin_settings(request.config).lab_session_factory_targets.value:
        yield
        return
    with _redirecting(request, _targets(request)):
        yield


_EVERY_TEST = "labsupport-redirect-every-test"


def every_test_redirects(config: pytest.Config) -> None:
    """Once lab_session_factory_targets or lab_container_providers is set, every test requests
    lab_redirect_targets and lab_override_providers (``redirect_every_test``, a plugin of its own);
    a run that sets neither sets up neither. Called at the session's start, when the settings are final."""
    settings = plugin_settings(config)
    wanted = settings.lab_session_factory_targets.value or settings.lab_container_providers.value
    if wanted and not config.pluginmanager.has_plugin(_EVERY_TEST):
        from . import redirect_every_test as module

        config.pluginmanager.register(module, _EVERY_TEST)


def _providers(request: pytest.FixtureRequest) -> list[tuple[str, Any]]:
    """Each ``module:attribute`` of lab_container_providers, with its provider (an object with override())."""
    setting = plugin_settings(request.config).lab_container_providers
    with failing_on_lab_error():
        names = _listed(setting, "lab_container_providers")
        found = [(n, resolve_object(n, "lab_container_providers", "app.main:container.engine", setting.source,
                                    import_hint(request.config))) for n in names]
    for name, provider in found:
        if not callable(getattr(provider, "override", None)):
            fail(f"labsupport: lab_container_providers {name} is a {type(provider).__name__}, not a container "
                 "provider with override(): name the provider of the container instance the app uses, e.g. "
                 "app.main:container.engine (dependency-injector)")
    return found


def _gives_factory(provider: Any) -> bool:
    """True if a provider makes an async_sessionmaker (dependency-injector's ``provides``)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    provides = getattr(provider, "provides", None)
    return isinstance(provides, type) and issubclass(provides, async_sessionmaker)


@pytest.fixture
def lab_override_providers(request: pytest.FixtureRequest) -> Iterator[None]:
    """With lab_container_providers set, every test overrides those container providers: an engine
    provider gives lab_joined_engine (its connections are savepoints in the test's transaction), a
    provider of an async_sessionmaker gives lab_session_factory; each override ends with the test
    (``redirect_every_test`` requests this fixture in every test then)."""
    if not plugin_settings(request.config).lab_container_providers.value:
        yield
        return
    found = _providers(request)
    engine: AsyncEngine = request.getfixturevalue("lab_joined_engine")
    with contextlib.ExitStack() as stack:
        for name, provider in found:
            given = request.getfixturevalue("lab_session_factory") if _gives_factory(provider) else engine
            overriding = provider.override(given)
            if not hasattr(overriding, "__exit__"):
                fail(f"labsupport: lab_container_providers {name}.override() gave no context manager to undo it "
                     "with: override that container in a fixture of your own (docs/plugin.md, DI containers)")
            stack.enter_context(overriding)
        yield


@pytest.fixture(scope="session")
def lab_run_lifespan(request: pytest.FixtureRequest) -> bool:
    """Whether lab_client runs the app's lifespan (startup and shutdown) around each test: ini lab_run_lifespan."""
    return plugin_settings(request.config).lab_run_lifespan


def _base_url(config: pytest.Config) -> str:
    """lab_client's base URL: the ini option lab_client_base_url, else http://lab.test."""
    setting = plugin_settings(config).lab_client_base_url
    value = setting.value.strip()
    if not value.startswith(("http://", "https://")) or "://" == value[-3:]:
        fail(f"labsupport: lab_client_base_url ({setting.source}) is {value!r}: write an http:// or https:// URL "
             "with the host your app expects, e.g. http://api.example.test")
    return value


_CLIENT_URL = pytest.StashKey[Any]()


def _transport(config: pytest.Config, httpx: Any, app: Any) -> Any:
    """One ASGITransport per app for the run: it holds nothing but the app."""
    return _per_run(config, "transport", app, lambda app: httpx.ASGITransport(app=app))


def _client_url(config: pytest.Config, httpx: Any) -> Any:
    """lab_client's base URL as an httpx.URL ending in a slash, as AsyncClient keeps it: parsed once per run."""
    url = config.stash.get(_CLIENT_URL, None)
    if url is None:
        url = httpx.URL(_base_url(config))
        if not url.raw_path.endswith(b"/"):
            url = url.copy_with(raw_path=url.raw_path + b"/")
        config.stash[_CLIENT_URL] = url
    return url


@pytest.fixture
def lab_client(request: pytest.FixtureRequest, lab_app: Any, lab_app_override: Callable[..., Any],
               lab_run_lifespan: bool) -> httpx.AsyncClient:
    """An httpx client calling the app in-process, a new one per test (its cookies and headers are the
    test's own) over the run's ASGITransport, which has nothing to open or close; ASGITransport alone
    never runs the lifespan: with lab_run_lifespan, _lab_lifespan_client does."""
    http = need("httpx", "httpx", "lab_client")
    if lab_run_lifespan:
        client: httpx.AsyncClient = request.getfixturevalue("_lab_lifespan_client")
        return client
    made: httpx.AsyncClient = http.AsyncClient(transport=_transport(request.config, http, lab_app),
                                               base_url=_client_url(request.config, http))
    return made


@pytest_asyncio.fixture
async def _lab_lifespan_client(request: pytest.FixtureRequest, lab_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """lab_client with the app's lifespan: its startup before the test, its shutdown after."""
    httpx = need("httpx", "httpx", "lab_client")
    base_url = _client_url(request.config, httpx)
    lifespan = need("asgi_lifespan", "asgi-lifespan", "lab_client with lab_run_lifespan")
    async with lifespan.LifespanManager(lab_app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client
