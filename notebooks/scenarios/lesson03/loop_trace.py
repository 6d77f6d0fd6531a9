"""Evidence for lesson 03, as a pytest plugin: which event loop each test ran in, which pooled
connection it got, and which loop opened that connection.

Load it with ``-p lesson03.loop_trace``; it appends one JSON line per event to the file named
by ``LESSON03_TRACE``. Loops and connections get short labels (loop A, conn #1) in the order they
are first seen; the plugin keeps them alive so that a label never stands for two objects.
"""

from __future__ import annotations

import asyncio
import json
import os
import string
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import event
from sqlalchemy.pool import Pool

_seen: dict[str, list[Any]] = {"loop": [], "conn": [], "engine": []}
_current = {"test": ""}


def _label(kind: str, obj: Any) -> str:
    items = _seen[kind]
    if not any(o is obj for o in items):
        items.append(obj)
    index = next(i for i, o in enumerate(items) if o is obj)
    if kind == "loop":
        return string.ascii_uppercase[index % 26]
    return f"{kind} #{index + 1}"


def _write(**row: Any) -> None:
    with open(os.environ["LESSON03_TRACE"], "a", encoding="utf-8") as out:
        out.write(json.dumps({"test": _current["test"], **row}) + "\n")


def _running_loop() -> str:
    try:
        return _label("loop", asyncio.get_running_loop())
    except RuntimeError:
        return "-"


@event.listens_for(Pool, "connect")
def _on_connect(dbapi_connection: Any, record: Any) -> None:
    _write(event="connect", conn=_label("conn", dbapi_connection), loop=_running_loop())


@event.listens_for(Pool, "checkout")
def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    born = getattr(dbapi_connection, "_connection", None)
    _write(event="checkout", conn=_label("conn", dbapi_connection), loop=_running_loop(),
           conn_loop=_label("loop", born._loop) if born is not None else "-")


def pytest_runtest_setup(item: pytest.Item) -> None:
    _current["test"] = item.name


@pytest_asyncio.fixture(autouse=True)
async def _trace_test_loop() -> AsyncIterator[None]:
    """Runs in the test's own loop (fixture loop scope = test loop scope in these suites)."""
    from flashcards import db

    _write(event="test", loop=_running_loop())
    yield
    _write(event="engine", engine=_label("engine", db.engine) if db.engine is not None else "-")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed or report.when == "call":
        crash = getattr(report.longrepr, "reprcrash", None)
        message = str(crash.message) if report.failed and crash is not None else ""
        _write(event="result", when=report.when, outcome=report.outcome, message=message.splitlines()[0]
               if message else "")
