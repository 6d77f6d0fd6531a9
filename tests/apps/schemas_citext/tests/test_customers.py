"""The app's own suite: two PostgreSQL schemas, a citext column, a uuid default, a foreign key across schemas.

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
            return await other.scalar(text(
                "SELECT (SELECT count(*) FROM crm.customers) + (SELECT count(*) FROM billing.invoices)"))
    finally:
        await engine.dispose()


async def test_the_tables_live_in_their_schemas_with_citext(session):
    tables = (await session.execute(text(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema IN ('crm', 'billing') ORDER BY 1"))).scalars().all()
    assert tables == ["billing.invoices", "crm.customers"]
    assert await session.scalar(text("SELECT extversion IS NOT NULL FROM pg_extension WHERE extname = 'citext'"))


async def test_an_email_is_unique_whatever_its_case(client, lab_database_url):
    assert (await client.post("/customers", params={"email": "Ann@Example.org"})).status_code == 201
    assert (await client.post("/customers", params={"email": "ann@example.ORG"})).status_code == 409
    assert (await client.get("/customers/ANN@example.org")).json() == {"email": "Ann@Example.org"}
    assert await committed_for_good(lab_database_url) == 0


async def test_an_invoice_in_billing_belongs_to_a_customer_in_crm(session, client, lab_database_url):
    assert (await client.post("/customers", params={"email": "bo@example.org"})).status_code == 201
    first = await client.post("/customers/BO@example.org/invoices", params={"amount_cents": 700})
    assert first.status_code == 201, first.text
    assert len(first.json()["id"]) == 36  # gen_random_uuid(), built into PostgreSQL
    await client.post("/customers/bo@example.org/invoices", params={"amount_cents": 300})
    assert (await client.get("/customers/bo@example.org/invoices")).json() == [300, 700]
    assert await session.scalar(text("SELECT count(*) FROM billing.invoices")) == 2
    assert await committed_for_good(lab_database_url) == 0


async def test_an_unknown_customer_has_no_invoices(client):
    assert (await client.post("/customers/nobody@example.org/invoices", params={"amount_cents": 1})).status_code == 404


async def test_each_test_starts_empty(session, lab_database_url):
    assert await session.scalar(text("SELECT count(*) FROM crm.customers")) == 0
    assert await committed_for_good(lab_database_url) == 0
