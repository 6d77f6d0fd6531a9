"""``worker_id`` when pytest-xdist is not installed: registered by ``worker_hooks`` only then.

pytest-xdist provides ``worker_id``; without it every run is the one process, "master". A module
of one plain fixture function, registered as a plugin of its own.
"""

from __future__ import annotations

import pytest

from .workers import MASTER

__all__ = ["worker_id"]


@pytest.fixture(scope="session")
def worker_id() -> str:
    """``master``: the one process of a run without pytest-xdist."""
    return MASTER
