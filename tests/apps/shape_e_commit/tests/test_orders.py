"""The app's own suite: its routes never commit; get_db does, after its yield.

labsupport runs get_db itself, its SessionLocal bound to the test's connection, so that commit
releases a savepoint of the test's outer transaction; a second connection (``committed_for_good``)
shows that nothing reached the database for good.
"""
import pytest
from shop_e.db import EVENTS
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


async def committed_for_good(url):
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as other:
            return await other.scalar(text("SELECT count(*) FROM orders"))
    finally:
        await engine.dispose()


@pytest.fixture(autouse=True)
def events():
    EVENTS.clear()
    return EVENTS


async def test_a_the_commit_after_yield_keeps_the_order(client, events, lab_database_url):
    response = await client.post("/orders/ada", params={"products": "tea,milk"})
    assert response.status_code == 201, response.text
    assert events == ["commit", "close"]
    assert (await client.get("/orders")).json() == [{"customer": "ada", "lines": 2}]
    assert await committed_for_good(lab_database_url) == 0


async def test_b_an_error_rolls_back_in_get_db(client, events):
    assert (await client.post("/orders/bob/refused")).status_code == 409
    assert events == ["rollback", "close"]
    assert (await client.get("/orders")).json() == []


async def test_c_the_test_sees_what_the_route_committed(client, db):
    await client.post("/orders/cy", params={"products": "jam"})
    assert await db.scalar(text("SELECT count(*) FROM order_lines")) == 1


async def test_d_the_route_sees_what_the_test_wrote(client, db):
    await db.execute(text("INSERT INTO orders (customer) VALUES ('dee')"))
    assert (await client.get("/orders")).json() == [{"customer": "dee", "lines": 0}]


@pytest.mark.parametrize("n", range(3))
async def test_e_each_test_starts_empty(client, n, lab_database_url):
    assert (await client.get("/orders")).json() == []
    await client.post(f"/orders/n{n}")
    assert len((await client.get("/orders")).json()) == 1
    assert await committed_for_good(lab_database_url) == 0
