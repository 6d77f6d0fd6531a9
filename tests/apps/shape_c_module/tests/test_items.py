"""The app's own suite: commits, rollbacks, a route that raises, an enum and a server default.

Every test runs inside one outer transaction that labsupport rolls back; a second connection
(``committed_for_good``) shows that nothing the routes committed reached the database for good.
"""
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


async def rows(db):
    return await db.scalar(text("SELECT count(*) FROM items"))


async def committed_for_good(url):
    """What another connection sees: only what was really committed."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as other:
            return await other.scalar(text("SELECT count(*) FROM items"))
    finally:
        await engine.dispose()


async def test_a_commit_is_seen_by_the_test_and_by_nobody_else(session, client, lab_database_url):
    response = await client.post("/items/apple")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "draft" and body["created_at"]  # the enum's default, the server's default
    assert await rows(session) == 1
    assert await committed_for_good(lab_database_url) == 0


async def test_b_the_enum_changes_and_a_duplicate_is_refused(session, client):
    assert (await client.post("/items/pear")).status_code == 201
    assert (await client.post("/items/pear")).status_code == 409
    assert (await client.post("/items/pear/activate")).json()["status"] == "active"
    assert [i["status"] for i in (await client.get("/items")).json()] == ["active"]


async def test_c_a_rollback_keeps_nothing(session, client):
    assert (await client.post("/items/plum/draft")).json() == {"kept": False}
    assert (await client.get("/items")).json() == []
    assert await rows(session) == 0


async def test_d_a_route_that_raises_keeps_nothing(session, client):
    with pytest.raises(RuntimeError, match="failed after writing"):
        await client.post("/items/fig/boom")
    assert (await client.get("/items")).json() == []


async def test_e_the_routes_see_what_the_test_wrote(session, client):
    await session.execute(text("INSERT INTO items (name, status) VALUES ('kiwi', 'active')"))
    assert [(i["name"], i["status"]) for i in (await client.get("/items")).json()] == [("kiwi", "active")]


@pytest.mark.parametrize("n", range(4))
async def test_f_each_test_starts_empty(session, client, n, lab_database_url):
    assert await rows(session) == 0
    assert (await client.post(f"/items/n{n}")).status_code == 201
    assert await rows(session) == 1
    assert await committed_for_good(lab_database_url) == 0


async def test_g_a_use_case_called_directly_and_the_engine_both_join_the_test(session, client):
    from shop_c import services

    await services.create("direct")  # no client: the autouse redirect covers it too
    assert await rows(session) == 1
    assert (await client.get("/count")).json() == {"items": 1}  # the module's engine, redirected
