"""Only what the lab made is ever dropped: a database a person made, under any name the plugin or
a lesson would use, survives every drop, clean-up and run with its rows. On the lab's real server."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport import databases, owners, server, urls
from labsupport.connection import connect, fetchval, run_sync
from labsupport.teaching import lesson, notebooks

ROWS = 5
# Every name a lesson makes under its prefix (notebooks 00-04 and their scenario files), and the
# plugin's names for lesson 04's runs (whose lab_db_prefix is the lesson's prefix and "_fx", "_m", "_x").
LESSON_SUFFIXES = ("schema_tour", "dev", "template", "fixed", "limits", "naive_commit", "savepoints", "symptom_a",
                   "symptom_b", "exercise", "buggy", "fixes", "kernel", "trap", "shared", "catalog",
                   "fx_gw0_test", "fx_master_test", "fx_template_test", "m_gw0_test", "x_template_test")
PLUGIN_NAMES = ("gw0", "master", "template")


async def _seed(admin_url: str, name: str) -> None:
    """A database made by hand, as a person would: no owner comment, a table with ROWS rows."""
    await fetchval(admin_url, f"CREATE DATABASE {databases.quote(name)}")
    conn = await connect(urls.with_database(admin_url, name))
    try:
        await conn.execute("CREATE TABLE kept (n int)")
        await conn.execute("INSERT INTO kept SELECT generate_series(1, $1)", ROWS)
    finally:
        await conn.close()


async def _rows(admin_url: str, name: str) -> int:
    conn = await connect(urls.with_database(admin_url, name))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM kept"))
    finally:
        await conn.close()


@pytest.fixture
def hand_made(lab_server) -> Iterator[list[str]]:
    """Names of databases this test makes by hand (``_seed``); removed by hand afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        run_sync(fetchval(lab_server.url, f"DROP DATABASE IF EXISTS {databases.quote(name)} WITH (FORCE)"))


def _make(admin_url: str, made: list[str], *names: str) -> None:
    for name in names:
        made.append(name)
        run_sync(_seed(admin_url, name))


def _survived(admin_url: str, names: list[str]) -> dict[str, int | None]:
    present = set(run_sync(databases.names(admin_url)))
    return {n: (run_sync(_rows(admin_url, n)) if n in present else None) for n in names}


# ---------------------------------------------------------------- the one drop function


def test_every_drop_refuses_a_hand_made_database_in_one_line(lab_server, hand_made) -> None:
    url, prefix = lab_server.url, f"td_{secrets.token_hex(3)}"
    name = f"{prefix}_dev"
    _make(url, hand_made, name)
    template = run_sync(databases.create(url, f"{prefix}_tmpl"))
    hand_made.append(template)
    attempts = {
        "drop_lab_made": lambda: databases.drop_lab_made(url, name),
        "drop": lambda: databases.drop(url, name),
        "drop_under": lambda: databases.drop_under(url, prefix, only=lambda n: n == name),
        "create replace=True": lambda: databases.create(url, name, replace=True),
        "clone replace=True": lambda: databases.clone(url, template, name, replace=True),
    }
    for what, attempt in attempts.items():
        with pytest.raises(databases.NotLabMade) as refused:
            run_sync(attempt())
        message = str(refused.value)
        assert "\n" not in message and f"refused to drop database {name!r}" in message, (what, message)
        assert f"DROP DATABASE \"{name}\"" in message, (what, message)  # how to remove it by hand
    assert name not in run_sync(databases.reap(url))
    assert _survived(url, [name]) == {name: ROWS}


def test_a_comment_that_is_not_the_labs_mark_is_refused_too(lab_server, hand_made) -> None:
    url, name = lab_server.url, f"td_{secrets.token_hex(3)}_notes"
    _make(url, hand_made, name)
    run_sync(fetchval(url, f"COMMENT ON DATABASE {databases.quote(name)} IS 'isolation-lab notes of Ann'"))
    with pytest.raises(databases.NotLabMade):
        run_sync(databases.drop_lab_made(url, name))
    assert _survived(url, [name]) == {name: ROWS}


def test_the_labs_mark_without_an_owner_may_be_dropped_but_is_never_reaped(lab_server, hand_made) -> None:
    url, name = lab_server.url, f"td_{secrets.token_hex(3)}_kept_template_test"
    run_sync(databases.create(url, name))
    hand_made.append(name)
    run_sync(fetchval(url, f"COMMENT ON DATABASE {databases.quote(name)} IS '{owners.MARK}kept template'"))

    assert name not in run_sync(databases.reap(url))
    assert run_sync(databases.exists(url, name))
    assert run_sync(databases.drop_lab_made(url, name)) is True
    assert not run_sync(databases.exists(url, name))


def test_drop_under_drops_the_labs_own_and_then_names_the_hand_made(lab_server, hand_made) -> None:
    url, prefix = lab_server.url, f"td_{secrets.token_hex(3)}"
    ours, theirs = f"{prefix}_a", f"{prefix}_b"
    run_sync(databases.create(url, ours))
    hand_made.append(ours)
    _make(url, hand_made, theirs)

    with pytest.raises(databases.NotLabMade, match=f"refused to drop database {theirs!r}"):
        run_sync(databases.drop_under(url, prefix))
    assert not run_sync(databases.exists(url, ours))
    assert _survived(url, [theirs]) == {theirs: ROWS}


# ---------------------------------------------------------------- the plugin's runs

SUITE = {
    "pytest.ini": """\
        [pytest]
        addopts = -p no:cacheprovider
        pythonpath = .
        lab_metadata = models:Base.metadata
        asyncio_default_fixture_loop_scope = function
        """,
    "models.py": """\
        from sqlalchemy import Integer
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


        class Base(DeclarativeBase):
            pass


        class Item(Base):
            __tablename__ = "items"
            id: Mapped[int] = mapped_column(Integer, primary_key=True)
        """,
    "test_it.py": """\
        def test_it_has_a_database_of_its_own(lab_worker_database):
            assert lab_worker_database.endswith("_test")
        """,
}


def _suite(folder: Path) -> Path:
    for name, text in SUITE.items():
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


@pytest.mark.parametrize("worker", PLUGIN_NAMES)
def test_a_run_stops_before_any_test_rather_than_drop_a_hand_made_database_of_its_names(
        worker: str, tmp_path: Path, lab_server, hand_made) -> None:
    url, prefix = lab_server.url, f"td{worker[0]}_{secrets.token_hex(3)}"
    name = f"{prefix}_{worker}_test"
    _make(url, hand_made, name)
    suite, env = _suite(tmp_path), {"LAB_SERVER_URL": url, "LAB_DB_PREFIX": prefix}

    for workers in ("0", "2"):
        result = lesson.run_suite(suite, "-n", workers, env=env, scenarios=False)
        assert result.returncode == 4 and result.tests == [], (workers, result.output[-2000:])
        assert f"refused to drop database {name!r}" in result.output and "no test ran" in result.output, \
            result.output[-2000:]
        assert _survived(url, [name]) == {name: ROWS}, workers

    run_sync(fetchval(url, f"DROP DATABASE {databases.quote(name)} WITH (FORCE)"))  # by hand, as the line says
    result = lesson.run_suite(suite, "-n", "2", env=env, scenarios=False)
    assert result.ok and result.passed == 1, result.output[-2000:]
    assert run_sync(databases.names_under(url, prefix)) == []


# ---------------------------------------------------------------- lessons and the lab's own clean-ups


def test_a_lessons_names_made_by_hand_survive_its_set_up_and_every_clean_up(lab_server, hand_made) -> None:
    url, prefix = lab_server.url, f"tl_{secrets.token_hex(3)}"
    names = [f"{prefix}_{suffix}" for suffix in LESSON_SUFFIXES]
    _make(url, hand_made, names[0])
    for name in names[1:]:  # copies of the first: no comment either (a comment is not copied), ROWS rows
        hand_made.append(name)
        run_sync(fetchval(url, f"CREATE DATABASE {databases.quote(name)} TEMPLATE {databases.quote(names[0])}"))
    lab = lesson.Lab(info=server.ServerInfo(source="test", url=url, managed=False), prefix=prefix)
    ours = run_sync(lab.create_database("made_by_the_lab"))
    hand_made.append(ours)  # removed afterwards even if a step below fails first

    for suffix in ("schema_tour", "dev", "shared", "catalog"):  # what the notebooks' cells create
        with pytest.raises(databases.NotLabMade):
            run_sync(lab.create_database(suffix))
    with pytest.raises(databases.NotLabMade):
        run_sync(lab.create_database("fixed", template=names[0]))  # lessons 02 and 03 clone theirs
    with pytest.raises(databases.NotLabMade) as refused:
        run_sync(lab.clean_up())  # a notebook's last cell
    assert all(repr(n) in str(refused.value) for n in names)
    notebooks._drop_databases(url, [prefix])  # `labsupport run`'s sweep after its notebooks
    server.reap(url)  # every start of the lab
    run_sync(databases.reap(url))

    assert not run_sync(databases.exists(url, ours))
    assert _survived(url, names) == dict.fromkeys(names, ROWS)


def test_labsupport_up_and_doctor_keep_hand_made_databases_of_the_names_they_use(cluster, tmp_path: Path) -> None:
    info, _ = cluster.up()
    names = ["lab_doctor_template", "lab_doctor_copy_test"]  # the doctor's clone check makes and drops these
    for name in names:
        run_sync(_seed(info.url, name))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FORCE_COLOR"))}
    env |= {"LAB_HOME": str(cluster.home), "HOME": str(tmp_path), "IPYTHONDIR": str(tmp_path / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(tmp_path / ".jupyter"), "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime")}  # folders of its own
    env.pop("LAB_DATABASE_URL", None)
    for command in (["up"], ["doctor"]):
        done = subprocess.run([sys.executable, "-m", "labsupport", *command], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert _survived(info.url, names) == dict.fromkeys(names, ROWS), command
    assert "refused to drop database 'lab_doctor_template'" in done.stdout + done.stderr, done.stdout + done.stderr
