"""The app's own suite, on a database the migrations built (not create_all).

Every test runs inside one outer transaction that labsupport rolls back; a second connection
(``committed_for_good``) shows that nothing the routes committed reached the database for good.
"""
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


async def committed_for_good(url):
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as other:
            return await other.scalar(text("SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)"))
    finally:
        await engine.dispose()


async def test_the_schema_is_the_migrations_at_head(session):
    assert await session.scalar(text("SELECT version_num FROM alembic_version")) == "0003"
    columns = dict((await session.execute(text(
        "SELECT column_name, data_type || ' ' || is_nullable FROM information_schema.columns "
        "WHERE table_name = 'orders'"))).all())
    assert columns["id"] == "integer NO" and columns["customer_id"] == "integer YES"  # not bigint, not NOT NULL
    assert await session.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_orders_customer_id'")) == 1


async def test_a_customer_and_an_order_are_committed_for_the_test_only(session, client, lab_database_url):
    assert (await client.post("/customers/ann")).status_code == 201
    response = await client.post("/orders", params={"total_cents": 1250, "customer": "ann"})
    assert response.status_code == 201, response.text
    assert response.json()["created_at"]  # the migration's server default
    assert (await client.get("/orders")).json() == [{"total_cents": 1250, "guest": False}]
    assert await committed_for_good(lab_database_url) == 0


async def test_a_guest_order_has_no_customer_as_the_migrations_allow(client):
    assert (await client.post("/orders", params={"total_cents": 99})).status_code == 201
    assert (await client.get("/orders")).json() == [{"total_cents": 99, "guest": True}]


async def test_a_duplicate_customer_is_refused_by_the_migrations_unique_constraint(client):
    assert (await client.post("/customers/bo")).status_code == 201
    assert (await client.post("/customers/bo")).status_code == 409


async def test_an_unknown_customer_is_a_404_and_keeps_nothing(session, client):
    assert (await client.post("/orders", params={"total_cents": 5, "customer": "nobody"})).status_code == 404
    assert await session.scalar(text("SELECT count(*) FROM orders")) == 0


async def test_each_test_starts_empty(session, lab_database_url):
    assert await session.scalar(text("SELECT count(*) FROM customers")) == 0
    assert await committed_for_good(lab_database_url) == 0
