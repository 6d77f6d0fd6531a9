"""labsupport.pytest_plugin.workers: names, the run's lock and the reaping of a crashed run's databases, the header."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport import databases
from labsupport.connection import fetchval, run_sync
from labsupport.errors import LabError
from labsupport.pytest_plugin import guard, workers

# ---------------------------------------------------------------- names


def test_each_worker_gets_its_own_marked_name() -> None:
    names = [workers.database_name("shop", w) for w in ("gw0", "gw1", "gw12", "master")]
    assert names == ["shop_gw0_test", "shop_gw1_test", "shop_gw12_test", "shop_master_test"]
    assert workers.template_name("shop") == "shop_template_test"
    assert all(guard.is_test_database(n) for n in [*names, workers.template_name("shop")])


@pytest.mark.parametrize("worker", ["", "gw", "GW0", "gw0; DROP", "controller", "master2"])
def test_a_worker_id_must_be_xdists(worker: str) -> None:
    with pytest.raises(LabError, match="gw<N> or 'master'"):
        workers.database_name("shop", worker)


@pytest.mark.parametrize("prefix", ["", "Shop", "1shop", "shop_", "sh-op", "shop test", "p" * 41])
def test_a_prefix_must_be_short_and_plain(prefix: str) -> None:
    with pytest.raises(LabError):
        workers.validate_prefix(prefix)


def test_the_longest_prefix_still_fits_postgresql() -> None:
    longest = "p" * workers.MAX_PREFIX_BYTES
    assert len(workers.template_name(longest).encode()) <= 63
    assert len(workers.database_name(longest, "gw999").encode()) <= 63


@pytest.mark.parametrize(("name", "owned"), [
    ("shop_gw0_test", True), ("shop_gw17_test", True), ("shop_master_test", True), ("shop_template_test", True),
    ("shop_x_gw0_test", False),  # the run of prefix "shop_x"
    ("shopx_gw0_test", False), ("shop_gw0_test_old", False), ("shop_test", False), ("shop_gw_test", False),
    ("shop_gw0", False), ("other_gw0_test", False),
])
def test_a_run_owns_exactly_its_own_names(name: str, owned: bool) -> None:
    assert workers.owns("shop", name) is owned


@pytest.mark.parametrize(("folder", "prefix"), [("flashcards", "flashcards"), ("My-Shop", "my_shop"),
                                                ("2024 app", "t_2024_app"), ("---", "tests")])
def test_the_default_prefix_is_the_folder_made_safe(folder: str, prefix: str) -> None:
    assert workers.default_prefix(Path("/somewhere") / folder) == prefix
    workers.validate_prefix(prefix)


def test_lock_keys_differ_by_prefix_and_purpose_and_fit_a_bigint() -> None:
    keys = {workers.lock_key(p, purpose) for p in ("a", "b") for purpose in ("run", "tests")}
    assert len(keys) == 4
    assert all(-(2**63) <= k < 2**63 for k in keys)


def test_engine_options_name_the_worker() -> None:
    assert workers.engine_options("gw3") == {"connect_args": {"server_settings": {"application_name": "pytest-gw3"}}}


# ---------------------------------------------------------------- the schema


def test_load_schema_takes_a_metadata_a_base_or_a_callable(monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import MetaData

    from labsupport.teaching.lesson import SCENARIOS

    monkeypatch.syspath_prepend(str(SCENARIOS))
    assert isinstance(workers.load_schema("flashcards.models:Base.metadata"), MetaData)
    assert isinstance(workers.load_schema("flashcards.models:Base"), MetaData)
    assert callable(workers.load_schema("flashcards.db:configure"))


@pytest.mark.parametrize(("spec", "says"), [
    ("flashcards.models", "module:attribute"), ("no_such_module_here:x", "cannot import"),
    ("flashcards.models:Nope", "has no attribute"), ("flashcards.models:TABLES", "not a MetaData"),
])
def test_load_schema_explains_bad_specs(spec: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from labsupport.teaching.lesson import SCENARIOS

    monkeypatch.syspath_prepend(str(SCENARIOS))
    with pytest.raises(LabError, match=says):
        workers.load_schema(spec)


# ---------------------------------------------------------------- the report header


def test_the_header_names_each_workers_database() -> None:
    info = workers.RunInfo("postgresql+asyncpg://u@/postgres", "shop", "shop_template_test")
    lines = workers.header_lines(info, ["gw0", "gw1"], {"schema": "app:Base (ini lab_metadata)"}, "h:5432", [])
    assert lines[0] == ("labsupport workers: parallel, 2 pytest-xdist workers: gw0 -> shop_gw0_test, "
                        "gw1 -> shop_gw1_test; template shop_template_test; the tests use only these databases, "
                        "named *_test by construction, so lesson 01's guard accepts them")
    assert lines[1] == "labsupport workers: schema app:Base (ini lab_metadata); server h:5432"
    assert len(lines) == 2


def test_the_header_says_sequential_and_what_was_reaped() -> None:
    info = workers.RunInfo("postgresql+asyncpg://u@/postgres", "shop", "shop_template_test")
    lines = workers.header_lines(info, [], {}, "h:5432", ["shop_gw0_test", "shop_template_test"])
    assert lines[0].startswith("labsupport workers: sequential, one process (no xdist workers): "
                               "master -> shop_master_test")
    assert lines[2] == ("labsupport workers: removed 2 database(s) a crashed run of this prefix left behind: "
                        "shop_gw0_test, shop_template_test")


# ---------------------------------------------------------------- the run's lock and reaping, on the server


@pytest.fixture
def admin_url(lab_server) -> str:
    return lab_server.url


@pytest.fixture
def made(admin_url: str) -> Iterator[list[str]]:
    """Databases a test creates; dropped afterwards whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        run_sync(databases.drop(admin_url, name))


def _create(admin_url: str, made: list[str], *names: str) -> None:
    for name in names:
        run_sync(databases.create(admin_url, name, replace=True))
        made.append(name)


def test_a_new_run_reaps_a_dead_runs_databases_and_nothing_else(admin_url: str, made: list[str]) -> None:
    dead, live = f"tw_{secrets.token_hex(3)}", f"tw_{secrets.token_hex(3)}"
    _create(admin_url, made, f"{dead}_template_test", f"{dead}_gw0_test", f"{dead}_gw1_test",
            f"{dead}_x_gw0_test",  # another prefix that merely starts with ours
            f"{dead}_keep")  # not a name a run makes
    live_run = workers.RunClaim.take(admin_url, live)  # a run of another prefix, still going
    try:
        _create(admin_url, made, f"{live}_template_test", f"{live}_gw0_test")
        claim = workers.RunClaim.take(admin_url, dead)
        claim.release()
        assert claim.reaped == [f"{dead}_gw0_test", f"{dead}_gw1_test", f"{dead}_template_test"]
        left = set(run_sync(databases.names(admin_url, "tw\\_%")))
        assert {f"{dead}_x_gw0_test", f"{dead}_keep", f"{live}_template_test", f"{live}_gw0_test"} <= left
        assert not {f"{dead}_template_test", f"{dead}_gw0_test", f"{dead}_gw1_test"} & left
    finally:
        live_run.release()


def test_a_second_run_of_a_live_prefix_stops_and_drops_nothing(admin_url: str, made: list[str]) -> None:
    prefix = f"tw_{secrets.token_hex(3)}"
    first = workers.RunClaim.take(admin_url, prefix)
    try:
        _create(admin_url, made, f"{prefix}_gw0_test")  # the first run's worker database
        with pytest.raises(LabError, match="another pytest run is using the database prefix"):
            workers.RunClaim.take(admin_url, prefix, wait=0.3)
        assert run_sync(databases.exists(admin_url, f"{prefix}_gw0_test"))
    finally:
        first.release()
    again = workers.RunClaim.take(admin_url, prefix)  # released: the prefix is free again
    again.release()
    assert again.reaped == [f"{prefix}_gw0_test"]


WAITING = """SELECT count(*) FROM pg_locks
               WHERE locktype = 'advisory' AND objsubid = 1 AND NOT granted
                 AND ((classid::bigint << 32) | objid::bigint) = $1"""  # a bigint key: its two halves


def _waits_for_lock(admin_url: str, key: int, timeout_s: float = 30) -> bool:
    """Poll the server until a session waits for the advisory lock ``key``: the waiter is blocked there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if run_sync(fetchval(admin_url, WAITING, key)):
            return True
        time.sleep(0.05)
    return False


def test_a_no_parallel_test_waits_for_the_others(admin_url: str) -> None:
    prefix = f"tw_{secrets.token_hex(3)}"
    other, alone = workers.TestLock(admin_url, prefix, "gw0"), workers.TestLock(admin_url, prefix, "gw1")
    try:
        other.acquire(alone=False)  # gw0 is in the middle of a test
        got = threading.Event()
        def wait_then_say() -> None:
            alone.acquire(alone=True)
            got.set()

        waiter = threading.Thread(target=wait_then_say)
        waiter.start()
        assert _waits_for_lock(admin_url, workers.lock_key(prefix, "tests")), "the no_parallel test never asked"
        assert not got.is_set(), "the no_parallel test started while another test was running"
        other.release(alone=False)
        assert got.wait(5), "the no_parallel test never started"
        waiter.join(5)
        alone.release(alone=True)
    finally:
        other.close()
        alone.close()


def test_a_claim_meeting_a_hand_made_database_of_its_names_stops_and_lets_go_of_the_prefix(
        admin_url: str, made: list[str]) -> None:
    prefix = f"tw_{secrets.token_hex(3)}"
    hand_made, leftover = f"{prefix}_gw0_test", f"{prefix}_gw1_test"
    run_sync(fetchval(admin_url, f"CREATE DATABASE {databases.quote(hand_made)}"))  # no owner mark: a person's
    try:
        _create(admin_url, made, leftover)  # a crashed run's, marked
        with pytest.raises(LabError, match=f"no test ran: .*refused to drop database {hand_made!r}.*lab_db_prefix"):
            workers.RunClaim.take(admin_url, prefix)
        assert run_sync(databases.exists(admin_url, hand_made))
        assert not run_sync(databases.exists(admin_url, leftover))  # the lab's own leftover went
    finally:
        run_sync(fetchval(admin_url, f"DROP DATABASE {databases.quote(hand_made)} WITH (FORCE)"))
    again = workers.RunClaim.take(admin_url, prefix, wait=0.3)  # the refused claim released the lock
    again.release()
