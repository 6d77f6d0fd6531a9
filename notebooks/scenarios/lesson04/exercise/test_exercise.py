"""The self-check: run it with -n 2, so two workers ask for a database at the same time."""

import pytest
from sqlalchemy import text

from conftest import answer


def test_every_worker_gets_its_own_name():
    names = [answer.database_name("shop", w) for w in ("gw0", "gw1", "gw10", "master")]
    assert len(set(names)) == 4, f"two workers would share a database: {names}"


@pytest.mark.parametrize("worker", ["gw0", "gw7", "master"])
def test_the_name_is_recognisable_and_marked(worker):
    name = answer.database_name("shop", worker)
    assert name.startswith("shop_") and worker in name, f"{name!r}: start with the prefix, include the worker id"
    assert name.endswith("_test"), f"{name!r} must end in _test (lesson 01's marker)"


def test_the_name_fits_postgresql():
    name = answer.database_name("p" * 40, "gw123")
    assert len(name.encode()) <= 63, f"{len(name.encode())} bytes: PostgreSQL would cut it to 63"


@pytest.mark.parametrize("n", range(6))
async def test_this_worker_uses_its_own_database(db_session, lab_run_prefix, worker_id, n):
    database = await db_session.scalar(text("SELECT current_database()"))
    assert database == answer.database_name(lab_run_prefix, worker_id)
