"""Lesson 02's chain on the worker's own database: registered by ``worker_hooks`` once ``lab_metadata`` is set.

A module of plain fixture functions, registered as a plugin of its own: these two override the
defaults of ``transactional`` only in a run that has per-worker databases. A ``lab_database_url``
fixture in your own conftest.py still wins over this one.
"""

from __future__ import annotations

from typing import Any

import pytest

from .. import urls
from .workers import _require_run, engine_options

__all__ = ["lab_database_url", "lab_engine_options"]


@pytest.fixture(scope="session")
def lab_database_url(request: pytest.FixtureRequest, lab_worker_database: str) -> str:
    """The worker's own database, a copy of the run's template."""
    return urls.with_database(_require_run(request.config).admin_url, lab_worker_database)


@pytest.fixture(scope="session")
def lab_engine_options(worker_id: str) -> dict[str, Any]:
    """NullPool, and ``application_name = pytest-<worker>`` in ``pg_stat_activity``."""
    return engine_options(worker_id)
