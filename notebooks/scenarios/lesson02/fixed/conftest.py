"""The fix: labsupport's rollback fixtures (labsupport/pytest_plugin/transactional.py), pointed at this app.

Every test gets one connection in an outer transaction; the test's session and every
request's session join it through savepoints; the outer transaction is rolled back at the end.
The database comes from LAB_TEST_DATABASE_URL (or a lab_database_url fixture of your own).
"""

import pytest

from flashcards import db
from flashcards.api import app


@pytest.fixture(scope="session")
def lab_app():
    return app


@pytest.fixture(scope="session")
def lab_session_dependency():
    return db.get_session
