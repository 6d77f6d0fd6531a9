"""Which shape an app's session takes, and how each shape is pointed at the test's connection.

An app gets its database access in one of four common shapes::

    session       a dependency that yields an AsyncSession          (async with maker() as s: yield s)
    sessionmaker  a dependency that yields or returns an async_sessionmaker   (the app calls factory())
    engine        a dependency that returns an AsyncEngine          (async with engine.begin() as conn)
    connection    a dependency that yields an AsyncConnection       (async with engine.connect() as conn)

and, with no dependency injection at all, a module-level ``async_sessionmaker`` (or ``AsyncEngine``)
that the app imports and calls directly (a *target*).

``detect`` reads the dependency's return annotation, else what its source yields or returns;
when neither tells, it says in one line which setting to add. ``joined_engine`` is an engine whose
every connection is a savepoint on the test's connection (asyncpg nests ``transaction()`` blocks
as SAVEPOINTs while the outer transaction is open), so an app's ``engine.begin()``, ``commit()``
and ``AsyncSession(engine)`` all stay inside the test's outer transaction. ``redirect`` points
targets there for one test and puts them back afterwards.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import textwrap
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import LabError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["SHAPES", "detect", "shape_of_type", "joined_engine", "uses_begin", "runs_after_yield", "factories_in",
           "check_target", "redirect"]

SHAPES = ("session", "sessionmaker", "engine", "connection")
_WRAPPERS = {"AsyncIterator", "AsyncGenerator", "Iterator", "Generator", "Awaitable", "Coroutine",
             "AsyncIterable", "Iterable"}
_HOW = ("annotate its return (-> AsyncIterator[AsyncSession], -> async_sessionmaker[AsyncSession], -> AsyncEngine "
        "or -> AsyncIterator[AsyncConnection]) or set lab_session_shape = session, sessionmaker, engine or connection")


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


def _from_annotation(dependency: Any) -> str | None:
    try:
        hint = typing.get_type_hints(dependency).get("return")
    except Exception:  # noqa: BLE001 - an unresolvable forward reference raises anything: read the source instead
        return None
    while hint is not None:
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
            continue
        origin = typing.get_origin(hint)
        if origin is not None and getattr(origin, "__name__", "") in _WRAPPERS and typing.get_args(hint):
            hint = typing.get_args(hint)[0 if origin.__name__ != "Coroutine" else -1]
            continue
        return shape_of_type(hint)
    return None


def _lookup(node: ast.expr, names: dict[str, Any]) -> Any:
    """The object a name or a dotted attribute refers to in the dependency's globals, else None."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute):
        return getattr(_lookup(node.value, names), node.attr, None)
    return None


def _shape_of_expr(node: ast.expr | None, names: dict[str, Any], bound: dict[str, ast.expr],
                   entered_names: frozenset[str] = frozenset()) -> str | None:
    """The shape of what an expression gives: a global object, a call on one, or a local bound from one."""
    if node is None:
        return None
    if isinstance(node, ast.Await):
        return _shape_of_expr(node.value, names, bound, entered_names)
    if isinstance(node, ast.Name) and node.id in bound:
        entered = node.id in entered_names
        return _shape_of_expr(bound[node.id], names, bound) or (_entered_call(bound[node.id]) if entered else None)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in ("begin", "connect"):
            owner = shape_of_type(type(_lookup(func.value, names)))
            return {"sessionmaker": "session", "engine": "connection"}.get(owner or "")
        called = _lookup(func, names)
        if isinstance(called, type):
            return shape_of_type(called)  # AsyncSession(engine), async_sessionmaker(engine)
        return "session" if shape_of_type(type(called)) == "sessionmaker" else None
    return shape_of_type(type(_lookup(node, names)))


def _entered_call(node: ast.expr) -> str | None:
    """``async with X() as s: yield s`` with X unknown at import (a factory set in the lifespan) is a
    session; ``async with X.connect() as c`` a connection; ``X.begin()`` could be either."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute) and node.func.attr in ("begin", "connect"):
        return "connection" if node.func.attr == "connect" else None
    return "session"


def _from_source(dependency: Any) -> str | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(dependency)))
    except (OSError, TypeError, SyntaxError):
        return None
    names = dict(getattr(dependency, "__globals__", {}))
    bound: dict[str, ast.expr] = {}
    entered: set[str] = set()
    given: list[ast.expr | None] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if isinstance(item.optional_vars, ast.Name):
                    bound[item.optional_vars.id] = item.context_expr
                    entered.add(item.optional_vars.id)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound[node.targets[0].id] = node.value
        elif isinstance(node, (ast.Yield, ast.Return)) and node.value is not None:
            given.append(node.value)
    shapes = {_shape_of_expr(value, names, bound, frozenset(entered)) for value in given} - {None}
    return shapes.pop() if len(shapes) == 1 else None


_DETECTED: dict[Any, str] = {}


def _hashable(obj: Any) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def detect(dependency: Any, name: str, explicit: str = "") -> str:
    """The shape of ``dependency``: the explicit setting, else its annotation, else its source; or LabError."""
    if explicit:
        if explicit not in SHAPES:
            raise LabError(f"lab_session_shape {explicit!r} is not one of {', '.join(SHAPES)}")
        return explicit
    shape = _DETECTED.get(dependency) if _hashable(dependency) else None
    if shape is None:
        shape = _from_annotation(dependency) or _from_source(dependency)
    if shape is not None and _hashable(dependency):
        _DETECTED[dependency] = shape
    if shape is None:
        raise LabError(f"cannot tell whether {name} gives its routes a session, a session factory, an engine or "
                       f"a connection: {_HOW}")
    return shape


def uses_begin(dependency: Any) -> bool:
    """True if the dependency opens its connection with ``engine.begin()`` (commit at the end of the request)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(dependency)))
    except (OSError, TypeError, SyntaxError):
        return False
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "begin"
               for n in ast.walk(tree))


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
    """Point each (name, object) target at the test's connection for the block; restore it afterwards.

    An ``async_sessionmaker`` is reconfigured in place (every module that imported it sees the
    change): bound to the connection with ``join_transaction_mode="create_savepoint"``. An
    ``AsyncEngine`` keeps its identity and borrows the joined engine's inner engine.
    """
    from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

    undo: list[Any] = []
    try:
        for name, obj in targets:
            if isinstance(obj, async_sessionmaker):
                saved = dict(obj.kw)
                if saved.get("binds"):
                    raise LabError(f"lab_session_factory_targets {name} has binds=...: labsupport redirects a "
                                   "session factory with one bind only")
                obj.configure(bind=connection, join_transaction_mode="create_savepoint")
                undo.append(lambda obj=obj, saved=saved: setattr(obj, "kw", saved))
            elif isinstance(obj, AsyncEngine) and engine is not None:
                saved_sync = obj.sync_engine
                obj.sync_engine = engine.sync_engine
                undo.append(lambda obj=obj, saved_sync=saved_sync: setattr(obj, "sync_engine", saved_sync))
            else:
                raise LabError(f"lab_session_factory_targets {name} is a {type(obj).__name__}, not an "
                               "async_sessionmaker or an AsyncEngine made at import time")
        yield
    finally:
        for step in reversed(undo):
            step()
