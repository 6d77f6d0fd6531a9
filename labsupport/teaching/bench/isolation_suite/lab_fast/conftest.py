"""The lab's fast path as an adopter gets it: pytest.ini's two loop-scope lines make lab_engine the pooled
engine born in the session loop; rollback per test."""

import pytest


@pytest.fixture
def session(lab_session):
    return lab_session
