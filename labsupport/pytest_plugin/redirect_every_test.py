"""Every test inside the outer transaction: registered by ``hooks`` only when ``lab_session_factory_targets``
or ``lab_container_providers`` is set.

A module of one autouse fixture, registered as a plugin of its own, so that a run which sets neither
(most runs, and every test that never touches the database) sets up nothing for them. Both links keep
their names, so a conftest.py can still override either.
"""

from __future__ import annotations

import pytest

__all__ = ["_lab_redirect_every_test"]


@pytest.fixture(autouse=True)
def _lab_redirect_every_test(lab_redirect_targets: None, lab_override_providers: None) -> None:
    """The app's module-level factories and its container's providers give the test's connection."""
