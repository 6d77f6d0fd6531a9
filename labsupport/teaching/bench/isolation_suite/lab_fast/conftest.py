"""The lab's fast path: lab_engine is the pooled engine born in the session loop; rollback per test."""

import pytest


@pytest.fixture(scope="session")
def lab_engine(lab_pooled_engine):
    return lab_pooled_engine


@pytest.fixture
def session(lab_session):
    return lab_session
