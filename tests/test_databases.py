"""Create, clone and drop on the lab's real server."""

from __future__ import annotations

import os
import secrets
import signal

import asyncpg
import pytest

from labsupport import databases, owners, urls
from labsupport.connection import fetchval, run_sync
from labsupport.errors import LabError
from labsupport.server import ServerInfo


@pytest.fixture
def name() -> str:
    return f"t_{secrets.token_hex(4)}"


async def test_create_clone_drop(lab_server: ServerInfo, name: str) -> None:
    admin = lab_server.url
    await databases.create(admin, f"{name}_tmpl")
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(lab_server.url_for(f"{name}_tmpl")))
    await conn.execute("CREATE TABLE marker (v int); INSERT INTO marker VALUES (42)")
    await conn.close()
    try:
        await databases.clone(admin, f"{name}_tmpl", f"{name}_copy")
        copy = await asyncpg.connect(**urls.asyncpg_kwargs(lab_server.url_for(f"{name}_copy")))
        assert await copy.fetchval("SELECT v FROM marker") == 42
        await copy.close()
    finally:
        assert await databases.drop(admin, f"{name}_copy")
        assert await databases.drop(admin, f"{name}_tmpl")
    assert not await databases.exists(admin, f"{name}_copy")


async def test_clone_succeeds_while_someone_is_connected_to_the_template(lab_server: ServerInfo, name: str) -> None:
    admin = lab_server.url
    await databases.create(admin, f"{name}_busy")
    squatter = await asyncpg.connect(**urls.asyncpg_kwargs(lab_server.url_for(f"{name}_busy")))
    try:
        await databases.clone(admin, f"{name}_busy", f"{name}_c")  # would be SQLSTATE 55006 without ending it
        assert await databases.exists(admin, f"{name}_c")
        assert squatter.is_closed() or not await _alive(squatter)
    finally:
        await databases.drop(admin, f"{name}_c")
        await databases.drop(admin, f"{name}_busy")


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        return False
    return True


async def test_drop_with_force_while_connected(lab_server: ServerInfo, name: str) -> None:
    await databases.create(lab_server.url, name)
    conn = await asyncpg.connect(**urls.asyncpg_kwargs(lab_server.url_for(name)))
    assert await databases.drop(lab_server.url, name)
    assert not await _alive(conn)


async def test_odd_names_are_quoted(lab_server: ServerInfo) -> None:
    odd = f'we"ird {secrets.token_hex(2)} ü'
    await databases.create(lab_server.url, odd)
    try:
        assert await databases.exists(lab_server.url, odd)
    finally:
        await databases.drop(lab_server.url, odd)


async def test_clone_of_a_missing_template_is_one_clear_error(lab_server: ServerInfo, name: str) -> None:
    with pytest.raises(LabError, match="does not exist"):
        await databases.clone(lab_server.url, f"{name}_nope", name)


@pytest.mark.parametrize("bad", ["", "x" * 64, "é" * 32, "a\x00b"])
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(LabError):
        databases.validate_name(bad)


def test_63_bytes_is_allowed() -> None:
    assert databases.validate_name("x" * 63)
    assert databases.quote('a"b') == '"a""b"'


async def test_names_under_takes_the_prefix_literally(lab_server: ServerInfo) -> None:
    base = f"p_{secrets.token_hex(3)}"
    made = [f"{base}_a", f"{base}_b_test", f"{base}x_c"]  # the last only looks alike: '_' is a LIKE wildcard
    for name in made:
        await databases.create(lab_server.url, name)
    try:
        assert await databases.names_under(lab_server.url, base) == made[:2]
        assert await databases.drop_under(lab_server.url, base) == made[:2]
        assert await databases.exists(lab_server.url, made[2])
    finally:
        await databases.drop(lab_server.url, made[2])



def test_an_interrupt_while_a_database_is_made_waits_until_it_carries_its_mark(lab_server, monkeypatch) -> None:
    """Ctrl-C that lands between CREATE DATABASE and its owner mark would leave a database that counts
    as a person's, which no run ever drops: the signal waits until both are done, then acts as usual."""
    made = databases.validate_name(f"interrupted_{os.getpid()}_test")
    real = owners.current

    def interrupted_then_real() -> owners.Owner:  # asked for right after CREATE DATABASE, for the mark
        signal.raise_signal(signal.SIGINT)
        return real()

    monkeypatch.setattr(owners, "current", interrupted_then_real)
    with pytest.raises(KeyboardInterrupt):
        run_sync(databases.create(lab_server.url, made))
    monkeypatch.setattr(owners, "current", real)
    comment = run_sync(fetchval(lab_server.url, "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                                "WHERE datname = $1", made))
    assert owners.is_lab_made(comment)  # made and marked before the interrupt acted
    assert run_sync(databases.drop_lab_made(lab_server.url, made))
