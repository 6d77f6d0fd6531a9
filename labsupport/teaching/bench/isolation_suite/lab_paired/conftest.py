"""The fast path paired: each lab test runs next to the same test with the isolation written in its body.

The two kinds alternate (test 0 of each, then test 1 of each, ...), in one pytest process, on one
pooled engine in the session loop, so a slow spell or a cold cache between pytest's tests lands on
both; what differs is only the plugin's fixture against the same steps done by hand.
"""

import pytest


@pytest.fixture
def session(lab_session):
    return lab_session


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: (item.callspec.params["n"], item.originalname))
