"""What each worker sees: its own database, its name in pg_stat_activity, and no_parallel running alone."""

import os

import pytest
from sqlalchemy import text

from labsupport.pytest_plugin import workers


async def test_each_worker_has_its_own_database(db_session, worker_id, is_parallel_run):
    database, app = (await db_session.execute(text(
        "SELECT current_database(), current_setting('application_name')"))).one()
    assert database.endswith(f"_{worker_id}_test")
    assert app == f"pytest-{worker_id}"
    assert is_parallel_run == (worker_id != "master")


async def test_stays_connected_for_a_while(db_session):
    """Holds its connection LESSON04_HOLD seconds (0 by default), so pg_stat_activity can be watched."""
    await db_session.execute(text("SELECT pg_sleep(:s)"), {"s": float(os.environ.get("LESSON04_HOLD", "0"))})


@pytest.mark.no_parallel
async def test_no_parallel_runs_alone(db_session, lab_run_prefix, worker_id, is_parallel_run):
    """Under xdist, the run's test lock is held by this worker alone, exclusively, while the test runs."""
    key = workers.lock_key(lab_run_prefix, "tests") & 0xFFFF_FFFF_FFFF_FFFF  # pg_locks shows it as two oids
    holders = (await db_session.execute(text(
        "SELECT a.application_name, l.mode FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"),
        {"hi": key >> 32, "lo": key & 0xFFFF_FFFF})).all()
    expected = [(f"pytest-{worker_id}-lock", "ExclusiveLock")] if is_parallel_run else []
    assert [tuple(h) for h in holders] == expected
