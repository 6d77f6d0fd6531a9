"""The app's own suite: the container gives the engine and the session factory, the use cases commit.

labsupport overrides the container's engine and session-factory providers for each test, so the
commits of ``session_factory.begin()`` release savepoints inside the test's outer transaction; a
second connection (``committed_for_good``) shows that nothing reached the database for good.
"""
import pytest
from shop_f.main import container
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


async def committed_for_good(url):
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as other:
            return await other.scalar(text("SELECT count(*) FROM books"))
    finally:
        await engine.dispose()


async def test_a_a_committed_book_is_seen_by_the_app_and_by_nobody_else(client, lab_database_url):
    assert (await client.post("/books/dune")).status_code == 201
    assert (await client.get("/books")).json() == {"titles": ["dune"], "count": 1}
    assert await committed_for_good(lab_database_url) == 0


async def test_b_a_refused_loan_rolls_back_its_own_unit_of_work(client):
    await client.post("/books/emma")
    assert [(await client.post("/books/emma/lend")).status_code for _ in range(3)] == [200, 200, 409]
    assert (await client.post("/books/emma/lend")).status_code == 409  # the third loan was rolled back
    assert (await client.post("/books/nothere/lend")).status_code == 404


async def test_c_the_test_sees_what_the_app_committed_and_the_reverse(client, connection):
    await connection.execute(text("INSERT INTO books (title) VALUES ('ivanhoe')"))
    await client.post("/books/kim")
    assert await connection.scalar(text("SELECT count(*) FROM books")) == 2
    assert (await client.get("/books")).json()["titles"] == ["ivanhoe", "kim"]


async def test_d_a_use_case_called_without_the_client_is_covered_too(connection, lab_database_url):
    await container.library().add("walden")
    assert await container.stats().books() == 1
    assert await committed_for_good(lab_database_url) == 0


@pytest.mark.parametrize("n", range(3))
async def test_e_each_test_starts_empty(client, n):
    assert (await client.get("/books")).json() == {"titles": [], "count": 0}
    await client.post(f"/books/b{n}")
