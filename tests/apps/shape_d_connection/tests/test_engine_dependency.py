"""The same app through its AsyncEngine dependency: this module names that dependency instead."""
import pytest
from shop_d.db import get_engine
from sqlalchemy import text


@pytest.fixture(scope="module")
def lab_session_dependency():
    return get_engine


async def test_the_engine_dependency_commits_inside_the_test(conn, client, lab_session_shape):
    assert lab_session_shape == "engine"
    assert (await client.post("/bulk/plum")).status_code == 201
    assert await conn.scalar(text("SELECT count(*) FROM items")) == 1


async def test_nothing_from_the_engine_test_is_left(conn):
    assert await conn.scalar(text("SELECT count(*) FROM items")) == 0
