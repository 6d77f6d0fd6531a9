"""The exercise's harness: labsupport's per-worker databases, named by YOUR database_name.

LESSON04_ANSWER names the module that holds it: naming_stub (yours to write) by default,
naming_solution for the reference answer. Overriding the fixture lab_worker_database_name is
how you would choose your own names in your own project too.
"""

import importlib
import os

import pytest

from lesson04.fixed.conftest import db_session, lab_app, lab_session_dependency  # noqa: F401

answer = importlib.import_module(os.environ.get("LESSON04_ANSWER", "naming_stub"))


@pytest.fixture(scope="session")
def lab_worker_database_name(lab_run_prefix, worker_id):
    return answer.database_name(lab_run_prefix, worker_id)


@pytest.fixture(autouse=True)
def report_worker(record_property, worker_id):
    record_property("worker", worker_id)
