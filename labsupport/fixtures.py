"""Small composable pytest fixtures for tests that need the lab's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import server

__all__ = ["lab_server"]


@pytest.fixture(scope="session")
def lab_server() -> Iterator[server.ServerInfo]:
    """The server in use: LAB_DATABASE_URL's, or the lab's own (started if needed, stopped if so)."""
    info = server.status()
    if info is not None:
        yield info
        return
    with server.ensure() as started:
        yield started
