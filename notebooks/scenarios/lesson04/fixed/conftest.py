"""The fix: a database per worker (pytest.ini: lab_metadata), under lesson 02's rollback fixtures.

labsupport clones <prefix>_gw0_test, <prefix>_gw1_test ... from a template the controller built
before the workers started; lab_database_url points lab_engine -> lab_connection -> lab_session
at the worker's own copy. Nothing here creates or drops a table.
"""

import pytest

from flashcards import db


@pytest.fixture
def db_session(lab_session):
    return lab_session  # the tests keep the fixture name they had


@pytest.fixture(scope="session")
def lab_app():
    from flashcards.api import app  # imported when a test needs the app, not in every worker's start-up

    return app


@pytest.fixture(scope="session")
def lab_session_dependency():
    return db.get_session


@pytest.fixture(autouse=True)
def report_worker(record_property, worker_id, lab_worker_database):
    record_property("worker", worker_id)  # lands in the JUnit XML: which worker ran the test,
    record_property("database", lab_worker_database)  # and on which database
