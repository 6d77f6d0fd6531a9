"""Exercise: write the dependency override that makes the app's routes use the test's connection.

``lab_connection`` (from labsupport) is this test's connection, inside an outer transaction
that is rolled back after the test. Write ``session_override`` so that, during the test,
- each request of ``flashcards.api.app`` gets its own AsyncSession bound to ``lab_connection``,
  whose commit() only releases a savepoint (hint: join_transaction_mode);
- the override replaces the app's dependency ``db.get_session`` (hint: app.dependency_overrides),
  and is removed again after the test.
"""

import pytest

from flashcards import db  # noqa: F401 - you will need these
from flashcards.api import app  # noqa: F401 - the app your override goes into


@pytest.fixture
def session_override(lab_connection):
    # your code here: build the sessions, install the override, yield, remove it
    pytest.fail("exercise not done yet: write session_override in exercise/override_stub.py", pytrace=False)
    yield
