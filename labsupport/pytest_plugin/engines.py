"""Engines for async tests that know which event loop they belong to (lesson 03).

An asyncpg connection belongs to the event loop that opened it, and a pooled engine keeps
its connections from one test to the next. pytest-asyncio gives every test a fresh loop
by default, so a pooled engine shared between tests hands test 2 a connection of test 1's
loop: ``RuntimeError: ... got Future <Future pending ...> attached to a different loop``,
then asyncpg's ``cannot perform operation: another operation is in progress``.

Two fixtures that avoid it, registered by labsupport's pytest plugin::

    lab_pooled_engine     session  the recommended one: a pooled engine born in the session
                                   loop and disposed at the end; the tests must run in that
                                   loop too (asyncio_default_test_loop_scope = session)
    lab_nullpool_engine   session  NullPool: a new connection per checkout, so any loop works;
                                   a few ms more per test

Both take their URL from ``lab_database_url`` (``transactional``: your own fixture
of that name, else ``LAB_TEST_DATABASE_URL``). A loop-bound engine used from another loop
fails before it touches a connection, with one line that names both loop scopes and the fix,
instead of the raw RuntimeError.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from ..errors import LabError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["LoopMismatchError", "LoopGuard", "loop_bound_engine", "idle_birth_loop", "loop_scope_of", "EngineChoice", "choose",
           "POOLED", "lab_pooled_engine", "lab_nullpool_engine"]


class LoopMismatchError(LabError):
    """A loop-bound engine was used from an event loop other than the one it was born in."""


@dataclass
class LoopGuard:
    """The loop an engine was born in, and how to describe the loop that uses it instead."""

    loop: asyncio.AbstractEventLoop
    owner: str = "this engine"
    loop_scope: str = "session"
    describe_user: Callable[[], str | None] = field(default=lambda: None)

    def check(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # sync use (e.g. dispose at interpreter exit): no loop to compare
            return
        if running is self.loop:
            return
        user = self.describe_user() or "it is used from a different event loop"
        raise LoopMismatchError(
            f"{self.owner} was born in the {self.loop_scope}-scoped event loop, but {user}, where its pooled "
            f"asyncpg connections would fail with 'attached to a different loop': run the test in the "
            f"{self.loop_scope} loop (asyncio_default_test_loop_scope = {self.loop_scope} in pytest.ini, or "
            f"@pytest.mark.asyncio(loop_scope=\"{self.loop_scope}\")), or use lab_nullpool_engine"
        )


@functools.cache
def _guarded_pool_class() -> type:
    """A queue pool that refuses to hand out a connection outside its engine's loop.

    The check runs in ``connect()``, before any checkout, so a refused test leaves the pool
    exactly as it was; ``recreate()`` (what ``dispose()`` calls) keeps the guard. Built on
    first use so that loading the plugin does not import SQLAlchemy.
    """
    from sqlalchemy.pool import AsyncAdaptedQueuePool

    class LoopGuardedPool(AsyncAdaptedQueuePool):
        lab_guard: LoopGuard | None = None

        def connect(self):
            if self.lab_guard is not None:
                self.lab_guard.check()
            return super().connect()

        def recreate(self) -> LoopGuardedPool:
            new = super().recreate()
            assert isinstance(new, LoopGuardedPool)  # SQLAlchemy's recreate builds self.__class__
            new.lab_guard = self.lab_guard
            return new

    return LoopGuardedPool


def loop_bound_engine(url: str, *, owner: str = "this engine", loop_scope: str = "session",
                      describe_user: Callable[[], str | None] | None = None, **options: Any) -> AsyncEngine:
    """A pooled AsyncEngine tied to the running loop: use from any other loop raises LoopMismatchError.

    Call it from inside the loop that will use it (an async fixture with the right ``loop_scope``).
    """
    from sqlalchemy.ext.asyncio import create_async_engine

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise LabError("loop_bound_engine() needs a running event loop: call it from an async fixture") from None
    engine = create_async_engine(url, poolclass=_guarded_pool_class(), **options)
    guard = LoopGuard(loop=loop, owner=owner, loop_scope=loop_scope)
    if describe_user is not None:
        guard.describe_user = describe_user
    engine.sync_engine.pool.lab_guard = guard  # type: ignore[attr-defined]  # a pool attribute of the lab's own, read by LoopGuardedPool
    return engine


def idle_birth_loop(engine: Any, item: pytest.Item) -> asyncio.AbstractEventLoop | None:
    """The loop a ``loop_bound_engine`` was born in, when ``item`` runs in that loop and it is idle now.

    A sync fixture can then run the engine's work in that loop itself (``loop.run_until_complete``),
    in the loop the test's own coroutine will run in, without a trip through pytest-asyncio's runner
    per step. None for any other engine (NullPool, your own), an anyio test, a test in another loop
    (whose use then meets LoopGuard's one line), or a loop that is running or closed.
    """
    pool = getattr(getattr(engine, "sync_engine", None), "pool", None)
    guard: LoopGuard | None = getattr(pool, "lab_guard", None)
    if guard is None or guard.loop.is_closed() or guard.loop.is_running() or _uses_anyio(item):
        return None
    return guard.loop if loop_scope_of(item) == guard.loop_scope else None


def loop_scope_of(item: pytest.Item) -> str:
    """The loop scope pytest-asyncio runs a test in: its marker's, else the ini default, else function."""
    marker = item.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") if marker is not None else None
    if not scope:
        try:
            scope = item.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # pytest-asyncio not loaded
            scope = None
    return str(scope or "function")


def _current_test(session: pytest.Session, born_scope: str) -> Callable[[], str | None]:
    """Describe the test running now for the guard: "test_x.py::test_y runs in its function-scoped loop"."""

    def describe() -> str | None:
        current = os.environ.get("PYTEST_CURRENT_TEST", "")
        nodeid = current.rsplit(" ", 1)[0] if current else ""
        item = next((i for i in session.items if i.nodeid == nodeid), None)
        if item is None:
            return None
        scope = loop_scope_of(item)
        return f"{item.nodeid} runs in {'another' if scope == born_scope else 'its'} {scope}-scoped loop"

    return describe


# ---------------------------------------------------------------- which engine lab_engine is


@dataclass(frozen=True)
class EngineChoice:
    """lab_engine's pool, and why: the report header shows ``reason``."""

    pooled: bool
    reason: str

    def line(self) -> str:
        kind = "pooled, made in the session loop" if self.pooled else "NullPool, a new server connection per test"
        return f"labsupport lab_engine: {kind} ({self.reason})"


POOLED = pytest.StashKey[EngineChoice]()
_FAST = "asyncio_default_fixture_loop_scope = session and asyncio_default_test_loop_scope = session"
# The lab's bench, not this run: docs/performance.md's isolation table, median ms per test of the default
# chain (NullPool) and of the fast path (pooled, session loop); the report header quotes their difference.
BENCH_MS_PER_TEST = {"nullpool": 7.68, "pooled": 2.79}
_SAVES = (f"{BENCH_MS_PER_TEST['nullpool'] - BENCH_MS_PER_TEST['pooled']:.1f} ms less per test in the lab's bench "
          f"({BENCH_MS_PER_TEST['nullpool']:.2f} vs {BENCH_MS_PER_TEST['pooled']:.2f} ms, docs/performance.md; "
          "labsupport bench isolation measures this server's)")
_ANYIO = "anyio-marked tests: a session-scoped anyio_backend fixture"


def _ini(config: pytest.Config, name: str) -> str:
    try:
        return str(config.getini(name) or "")
    except ValueError:  # pytest-asyncio not loaded
        return ""


def _uses_anyio(item: pytest.Item) -> bool:
    return "anyio_backend" in getattr(item, "fixturenames", ())


def _anyio_backend_scope(item: pytest.Item) -> str:
    """The scope of the anyio_backend fixture the test gets (the most specific one it can see)."""
    from .options import fixture_seen_by

    seen = fixture_seen_by(item, "anyio_backend")
    return str(seen.scope) if seen is not None else "module"


# The plugin's fixtures that reach lab_engine, some of them only as they run (request.getfixturevalue):
# lab_session opens the connection itself on the fast path, the app's override builds its stand-in then.
_REACHING_LAB_ENGINE = frozenset({"lab_engine", "lab_connection", "lab_session_factory", "lab_session", "lab_joined_engine",
                                  "lab_app_override", "lab_client", "lab_redirect_targets", "lab_override_providers"})


def choose(config: pytest.Config, items: list[pytest.Item] | None = None) -> EngineChoice:
    """Pooled when every test that uses lab_engine (itself or through the chain) runs in the session loop its fixtures run in.

    Before collection (``items`` None) only the ini options are known; after it, each test's own
    ``asyncio`` marker and, for anyio-marked tests, the scope of ``anyio_backend`` count too.
    The ini option ``lab_engine_pool`` (pooled, nullpool, auto) decides instead when set.
    """
    from .settings_table import plugin_settings

    forced = plugin_settings(config).lab_engine_pool.value.strip()
    if forced in ("pooled", "nullpool"):
        return EngineChoice(forced == "pooled", f"lab_engine_pool = {forced}")
    fixtures = _ini(config, "asyncio_default_fixture_loop_scope")
    if items is None:
        tests = _ini(config, "asyncio_default_test_loop_scope") or "function"
        if fixtures == tests == "session":
            return EngineChoice(True, f"{_FAST}; anyio-marked tests also need a session-scoped anyio_backend")
        return EngineChoice(False, f"tests in {tests}-scoped loops, fixtures in {fixtures or 'their own'}; "
                                   f"{_FAST} make it pooled: {_SAVES} ({_ANYIO})")
    using = [i for i in items if not _REACHING_LAB_ENGINE.isdisjoint(getattr(i, "fixturenames", ()))]
    apart = [i for i in using if (_anyio_backend_scope(i) != "session" if _uses_anyio(i)
                                  else fixtures != "session" or loop_scope_of(i) != "session")]
    if not using:
        return EngineChoice(False, "no collected test uses it")
    if apart:
        why = (f"its anyio_backend fixture is not session-scoped ({_ANYIO})" if _uses_anyio(apart[0])
               else f"it runs in its {loop_scope_of(apart[0])}-scoped loop")
        return EngineChoice(False, f"{len(apart)} of {len(using)} tests run outside the session loop, e.g. "
                                   f"{apart[0].nodeid}: {why}; all of them in the session loop: {_SAVES}")
    return EngineChoice(True, f"all {len(using)} tests that use it run in the session loop")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lab_pooled_engine(lab_database_url: str, lab_engine_options: dict[str, Any],
                            request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """The recommended engine: pooled, born in the session loop, disposed at the end of the run."""
    engine = loop_bound_engine(lab_database_url, owner="lab_pooled_engine", loop_scope="session",
                               describe_user=_current_test(request.session, "session"), **lab_engine_options)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def lab_nullpool_engine(lab_database_url: str, lab_engine_options: dict[str, Any]) -> Iterator[AsyncEngine]:
    """An engine that pools nothing: every checkout opens a connection in the loop that asks for it.

    It carries ``lab_engine_options`` such as lesson 04's per-worker application_name.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(lab_database_url, poolclass=NullPool, **lab_engine_options)
    yield engine
    engine.sync_engine.dispose()  # NullPool holds nothing open: no await, so no loop needed
