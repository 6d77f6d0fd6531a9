"""The self-check: run with -n 2 under the prefix ci_prefix gave the check."""

import pytest
from conftest import answer  # type: ignore[attr-defined]  # this folder's conftest.py; mypy sees tests/conftest.py
from sqlalchemy import text


def test_two_branches_get_two_prefixes():
    assert answer.ci_prefix("shop", "main") != answer.ci_prefix("shop", "feature/login"), \
        "two branches would share a prefix"


@pytest.mark.parametrize("branch", ["main", "feature/Login-Page"])
def test_the_prefix_names_project_and_branch(branch):
    prefix = answer.ci_prefix("shop", branch)
    readable = branch.lower().replace("/", "_").replace("-", "_")
    assert prefix.startswith("shop_" + readable[:10]), f"{prefix!r}: start with 'shop_' and the branch"


def test_this_process_gives_the_run_its_prefix(ci_run, lab_run_prefix):
    assert answer.ci_prefix(*ci_run) == lab_run_prefix, \
        "ci_prefix gave this process another prefix than the check's for the same branch"


@pytest.mark.parametrize("n", range(4))
async def test_each_worker_uses_its_database_under_the_prefix(db_session, lab_run_prefix, worker_id, n):
    database = await db_session.scalar(text("SELECT current_database()"))
    assert database == f"{lab_run_prefix}_{worker_id}_test"
