"""The lab's default chain: only the alias of the project's own fixture name."""

import pytest


@pytest.fixture
def session(lab_session):
    return lab_session
