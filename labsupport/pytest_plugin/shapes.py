"""Which shape an app's session takes, and how each shape is pointed at the test's connection.

An app gets its database access in one of five common shapes::

    session       a dependency that yields an AsyncSession          (async with maker() as s: yield s)
    sessionmaker  a dependency that yields or returns an async_sessionmaker   (the app calls factory())
    engine        a dependency that returns an AsyncEngine          (async with engine.begin() as conn)
    connection    a dependency that yields an AsyncConnection       (async with engine.connect() as conn)
    begin         a dependency that yields the AsyncConnection of engine.begin(): committed when the
                  request ends, so its routes never commit themselves

and, with no dependency injection at all, a module-level ``async_sessionmaker`` (or ``AsyncEngine``)
that the app imports and calls directly (a *target*).

``detect`` takes the shape from what is declared, never from the dependency's source text: the
setting ``lab_session_shape``, else the dependency's return annotation (of a callable object, its
``__call__``'s), else, for a class used as the dependency, the class itself. An annotation cannot
tell ``engine.begin()`` from ``engine.connect()``: ``AsyncIterator[AsyncConnection]`` is
``connection``, and ``begin`` comes from the setting only. When nothing decides, it says in one
line what to add.

``joined_engine`` is an engine whose every connection is a savepoint on the test's connection
(asyncpg nests ``transaction()`` blocks as SAVEPOINTs while the outer transaction is open), so an
app's ``engine.begin()``, ``commit()`` and ``AsyncSession(engine)`` all stay inside the test's
outer transaction. ``redirect`` points targets there for one test and puts them back afterwards.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import textwrap
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import LabError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["SHAPES", "detect", "shape_of_type", "joined_engine", "runs_after_yield", "factories_in",
           "check_target", "redirect"]

SHAPES = ("session", "sessionmaker", "engine", "connection", "begin")
_WRAPPERS = {"AsyncIterator", "AsyncGenerator", "Iterator", "Generator", "Awaitable", "Coroutine",
             "AsyncIterable", "Iterable"}
_HOW = ("annotate its return (-> AsyncIterator[AsyncSession], -> async_sessionmaker[AsyncSession], -> AsyncEngine "
        "or -> AsyncIterator[AsyncConnection]) or set lab_session_shape = session, sessionmaker, engine, connection "
        "or begin (a connection from engine.begin(), committed when the request ends)")


def shape_of_type(kind: Any) -> str | None:
    """The shape an annotation or an object's type stands for, or None."""
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

    kind = typing.get_origin(kind) or kind
    if not isinstance(kind, type):
        return None
    for cls, shape in ((AsyncSession, "session"), (async_sessionmaker, "sessionmaker"),
                       (AsyncEngine, "engine"), (AsyncConnection, "connection")):
        if issubclass(kind, cls):
            return shape
    return None


def _annotated_callable(dependency: Any) -> Any:
    """The function whose return annotation says what FastAPI gets from ``dependency``: the function
    itself, the one a ``functools.partial`` wraps, or a callable object's ``__call__``; None for a
    class (its type decides) or a builtin (it has no annotations)."""
    while isinstance(dependency, functools.partial):
        dependency = dependency.func
    if isinstance(dependency, type):
        return None
    if inspect.isfunction(dependency) or inspect.ismethod(dependency):
        return dependency
    call = type(dependency).__call__ if callable(dependency) else None
    return call if inspect.isfunction(call) else None


def _unwrap(hint: Any) -> Any:
    """The type inside ``Annotated[...]``, ``AsyncIterator[...]``, ``AsyncGenerator[..., None]``,
    ``Coroutine[..., ..., T]`` and the like: what each request is given."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin is not None and getattr(origin, "__name__", "") in _WRAPPERS and typing.get_args(hint):
            hint = typing.get_args(hint)[-1 if origin.__name__ == "Coroutine" else 0]
        else:
            return hint


def _spelled(hint: Any) -> str:
    """An annotation as its author wrote it: ``AsyncIterator[Any]``, ``dict``."""
    if typing.get_origin(hint) is None and hasattr(hint, "__qualname__"):
        return str(hint.__qualname__)
    return str(hint).replace("collections.abc.", "").replace("typing.", "")


def _from_annotation(dependency: Any) -> tuple[str | None, str]:
    """The shape the return annotation names; when it names none, why, for the one-line error."""
    function = _annotated_callable(dependency)
    if function is None:
        return None, ""
    try:
        hint = typing.get_type_hints(function, include_extras=True).get("return")
    except Exception as exc:  # noqa: BLE001 - an unresolvable forward reference raises anything: say which
        return None, f"its return annotation does not resolve at run time ({type(exc).__name__}: {exc}); "
    if hint is None:
        return None, ""
    shape = shape_of_type(_unwrap(hint))
    return shape, "" if shape else f"its return annotation {_spelled(hint)} names none of these; "


def _from_class(dependency: Any) -> str | None:
    """A class as the dependency (``Depends(RequestSession)``): FastAPI makes one per request, so the
    class itself is what the routes get."""
    return shape_of_type(dependency) if isinstance(dependency, type) else None


def detect(dependency: Any, name: str, explicit: str = "") -> str:
    """The shape of ``dependency``: the explicit setting, else its return annotation, else (a class)
    its own type; never its source text. A LabError of one line says what to add when none tells."""
    if explicit:
        if explicit not in SHAPES:
            raise LabError(f"lab_session_shape {explicit!r} is not one of {', '.join(SHAPES)}")
        return explicit
    shape, why = _from_annotation(dependency)
    shape = shape or _from_class(dependency)
    if shape is None:
        raise LabError(f"cannot tell whether {name} gives its routes a session, a session factory, an engine or "
                       f"a connection: {why}{_HOW}")
    return shape


def _lookup(node: ast.expr, names: dict[str, Any]) -> Any:
    """The object a name or a dotted attribute refers to in the dependency's globals, else None."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_lookup(node.value, names), node.attr, None)
    return None


def _function(dependency: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(dependency)))
    except (OSError, TypeError, SyntaxError):
        return None
    found = tree.body[0] if tree.body else None
    return found if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _holds_yield(node: ast.AST) -> bool:
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


def _begins(block: ast.With | ast.AsyncWith) -> bool:
    """``async with maker.begin() as s``: the block's exit commits."""
    return any(isinstance(i.context_expr, ast.Call) and isinstance(i.context_expr.func, ast.Attribute)
               and i.context_expr.func.attr == "begin" for i in block.items)


def _code_after(body: list[ast.stmt]) -> bool:
    """True if something of ``body`` runs after its yield: a statement after it, an except, a finally,
    an else, or the exit of a ``begin()`` block that commits."""
    for index, stmt in enumerate(body):
        if not _holds_yield(stmt):
            continue
        if body[index + 1:]:
            return True
        if isinstance(stmt, (ast.Try, ast.TryStar)) and (stmt.handlers or stmt.finalbody or stmt.orelse):
            return True
        if isinstance(stmt, (ast.With, ast.AsyncWith)) and _begins(stmt):
            return True
        inner = [getattr(stmt, name, []) for name in ("body", "orelse", "finalbody")]
        inner += [handler.body for handler in getattr(stmt, "handlers", [])]
        return any(_code_after(block) for block in inner if block)
    return False


def runs_after_yield(dependency: Any) -> bool:
    """True if the dependency's own code goes on after its ``yield``: a commit, a rollback in an
    except, a close in a finally, a ``begin()`` block. An override of the dependency would skip it."""
    function = _function(dependency)
    return function is not None and _code_after(function.body)


def factories_in(dependency: Any) -> list[tuple[str, Any]]:
    """The module-level async_sessionmaker and AsyncEngine objects the dependency's source names,
    as ``(module:expression, object)``: what ``redirect`` points at the test's connection."""
    function = _function(dependency)
    if function is None:
        return []
    names = dict(getattr(dependency, "__globals__", {}))
    module = getattr(dependency, "__module__", "?")
    found: dict[int, tuple[str, Any]] = {}
    for node in ast.walk(function):
        if isinstance(node, (ast.Name, ast.Attribute)):
            obj = _lookup(node, names)
            if shape_of_type(type(obj)) in ("sessionmaker", "engine"):
                found.setdefault(id(obj), (f"{module}:{ast.unparse(node)}", obj))
    return list(found.values())


class _Borrowed:
    """The test's asyncpg connection, lent to another engine: closing it is the owner's business."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    async def close(self, timeout: float | None = None) -> None:
        return None

    def terminate(self) -> None:
        return None


async def joined_engine(connection: AsyncConnection) -> AsyncEngine:
    """An AsyncEngine whose every connection is a savepoint inside ``connection``'s outer transaction.

    Each checkout wraps the test's own asyncpg connection in a fresh adapter; its transaction is
    a nested asyncpg transaction (SAVEPOINT), so the app's commit releases a savepoint and its
    rollback or close rolls back to it. The outer transaction is started first if it is still lazy.
    """
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    raw = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]  # an open AsyncConnection has both
    assert raw is not None  # a connection in use has its driver's connection
    if not raw.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")  # asyncpg sends BEGIN with the first statement
    if not raw.is_in_transaction():
        raise LabError("lab_connection is not inside a transaction: the test's outer transaction must be open")

    async def lend() -> Any:
        return _Borrowed(raw)

    engine = create_async_engine(connection.engine.url, async_creator=lend, poolclass=NullPool)
    from . import guard

    if guard.is_protected(connection.engine):  # the test's engine is guarded: so is the app's way onto it
        guard.protect(engine)
    return engine


def check_target(name: str, obj: Any) -> tuple[str, Any]:
    """A target ``redirect`` can point at the test: an async_sessionmaker with one bind, or an AsyncEngine."""
    kind = shape_of_type(type(obj))
    if kind == "sessionmaker" and obj.kw.get("binds"):
        raise LabError(f"lab_session_factory_targets {name} has binds=...: labsupport redirects a session "
                       "factory with one bind only")
    if kind not in ("sessionmaker", "engine"):
        raise LabError(f"lab_session_factory_targets {name} is a {type(obj).__name__}, not an async_sessionmaker "
                       "or an AsyncEngine made at import time: name the object the app calls")
    return name, obj


@contextlib.contextmanager
def redirect(targets: list[tuple[str, Any]], connection: AsyncConnection, engine: AsyncEngine | None) -> Iterator[None]:
    """Point each (name, object) target, as ``check_target`` passed it, at the test's connection for the
    block; restore it afterwards.

    An ``async_sessionmaker`` is reconfigured in place (every module that imported it sees the
    change): bound to the connection with ``join_transaction_mode="create_savepoint"``. An
    ``AsyncEngine`` keeps its identity and borrows ``engine``'s (the joined engine's) inner engine.
    """
    from sqlalchemy.ext.asyncio import async_sessionmaker

    undo: list[Any] = []
    try:
        for _name, obj in targets:
            if isinstance(obj, async_sessionmaker):
                saved = dict(obj.kw)
                obj.configure(bind=connection, join_transaction_mode="create_savepoint")
                undo.append(lambda obj=obj, saved=saved: setattr(obj, "kw", saved))
            else:  # an AsyncEngine: check_target lets nothing else through
                assert engine is not None, "an AsyncEngine target needs the joined engine"
                saved_sync = obj.sync_engine
                obj.sync_engine = engine.sync_engine
                undo.append(lambda obj=obj, saved_sync=saved_sync: setattr(obj, "sync_engine", saved_sync))
        yield
    finally:
        for step in reversed(undo):
            step()
