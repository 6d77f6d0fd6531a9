"""The ``lab_server`` fixture: the server in use for tests that need the lab's PostgreSQL.

It imports the launcher (``labsupport.server``) when a test first asks for it, never at load.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .options import is_worker

if TYPE_CHECKING:
    from ..server import ServerInfo

__all__ = ["lab_server"]


@pytest.fixture(scope="session")
def lab_server(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """The server in use: LAB_DATABASE_URL's, or the lab's own (started if needed).

    Without xdist it is stopped afterwards if this fixture started it. An xdist worker
    never stops it: the others may still be using it (set ``lab_start_server = true``
    to have the controlling process start it before the workers and stop it after them).
    """
    from .. import server

    info = server.status()
    if info is not None:
        yield info
        return
    if is_worker(request.config):
        yield server.up()[0]
        return
    with server.ensure() as started:
        yield started
