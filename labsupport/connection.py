"""Connecting to the server with asyncpg, with every failure turned into one actionable line."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg

from . import urls
from .errors import LabError

__all__ = ["MissingDatabaseError", "NoServerError", "connect", "run_sync", "fetchval"]

T = TypeVar("T")


class MissingDatabaseError(LabError):
    """The server answered, and it has no database of that name."""


class NoServerError(LabError):
    """Nothing answers at the URL's host and port (or socket): no server there, or its host is unknown."""


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside Jupyter's running loop.

    A kernel already runs an event loop in its main thread, so ``asyncio.run`` would
    refuse there; the coroutine then gets a fresh loop in a worker thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def connect(url: str, timeout: float = 5.0, what: str = "the server URL") -> asyncpg.Connection:
    """Open an asyncpg connection; failures become a LabError that says what to do."""
    kwargs = urls.asyncpg_kwargs(url)
    where = urls.describe(url)
    try:
        return await asyncpg.connect(timeout=timeout, **kwargs)
    except asyncpg.InvalidPasswordError:
        raise LabError(
            f"PostgreSQL at {where} rejected user {kwargs.get('user')!r} (wrong password): "
            f"fix the password in {what}"
        ) from None
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        raise LabError(f"PostgreSQL at {where} refused the login ({exc}): check the user in {what}") from None
    except asyncpg.InvalidCatalogNameError:
        raise MissingDatabaseError(
            f"PostgreSQL at {where} has no database {kwargs.get('database')!r}: name an existing one in {what}"
        ) from None
    except (ConnectionRefusedError, FileNotFoundError):
        if what == "LAB_DATABASE_URL":  # someone else's server: the lab never starts it
            raise NoServerError(f"nothing is listening at {where}: start that server, or fix {what}") from None
        raise NoServerError(  # most often the lab's own server, stopped or killed since it handed out the URL
            f"nothing is listening at {where}: if it is the lab's server, start it again with 'labsupport up'; "
            f"else start that server, or fix {what}"
        ) from None
    except TimeoutError:
        raise LabError(f"PostgreSQL at {where} did not answer within {timeout:g} s: check the host and port") from None
    except socket.gaierror:
        raise NoServerError(f"cannot resolve the host in {where}: fix {what}") from None
    except OSError as exc:
        raise LabError(f"cannot reach PostgreSQL at {where} ({exc.strerror or exc}): check {what}'s URL") from None
    except asyncpg.PostgresError as exc:
        raise LabError(f"PostgreSQL at {where} refused the connection: {exc}") from None


async def fetchval(url: str, query: str, *args: object) -> Any:
    """One value from one short-lived connection."""
    conn = await connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()
