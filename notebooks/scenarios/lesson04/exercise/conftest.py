"""The exercise's harness: the suite runs under the prefix YOUR ci_prefix gives (the check passes it
as --lab-db-prefix), on labsupport's per-worker databases.

LESSON04_ANSWER names the file that holds ci_prefix (default: ci_prefix.py beside this file);
LESSON04_PROJECT and LESSON04_BRANCH are the project and the branch the check runs as.
"""

import importlib.util
import os
from pathlib import Path

import pytest
from lesson04.fixed.conftest import db_session, lab_app, lab_session_dependency  # noqa: F401 - fixtures


def _load(path):
    spec = importlib.util.spec_from_file_location("learner_ci_prefix", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path} as Python"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


answer = _load(os.environ.get("LESSON04_ANSWER") or Path(__file__).with_name("ci_prefix.py"))


@pytest.fixture(scope="session")
def ci_run():
    """(project, branch) of the run the check started."""
    return os.environ["LESSON04_PROJECT"], os.environ["LESSON04_BRANCH"]


@pytest.fixture(autouse=True)
def report_worker(record_property, worker_id):
    record_property("worker", worker_id)
