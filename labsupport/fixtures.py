"""Small composable pytest fixtures for tests that need the lab's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import server

__all__ = ["lab_server"]


@pytest.fixture(scope="session")
def lab_server(request: pytest.FixtureRequest) -> Iterator[server.ServerInfo]:
    """The server in use: LAB_DATABASE_URL's, or the lab's own (started if needed).

    Without xdist it is stopped afterwards if this fixture started it. An xdist worker
    never stops it: the others may still be using it (set ``lab_start_server = true``
    to have the controlling process start it before the workers and stop it after them).
    """
    info = server.status()
    if info is not None:
        yield info
        return
    if hasattr(request.config, "workerinput"):
        yield server.up()[0]
        return
    with server.ensure() as started:
        yield started
