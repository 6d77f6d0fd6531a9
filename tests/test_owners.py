"""Reaping: a database whose owner died is dropped; one whose owner lives, one the lab did not
make and one made on another host are left alone. On the lab's real server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from labsupport import databases, owners
from labsupport.connection import fetchval, run_sync

CREATE_AND_EXIT = (
    "import os, sys; os.environ.pop('LAB_OWNER', None)\n"
    "from labsupport import databases; from labsupport.connection import run_sync\n"
    "run_sync(databases.create(sys.argv[1], sys.argv[2], replace=True))"
)


@pytest.fixture
def names(lab_server, request):
    made: list[str] = []

    def name(suffix: str) -> str:
        made.append(f"town_{os.getpid()}_{suffix}")
        return made[-1]

    yield name
    for n in made:  # the unmarked one too: the lab's own drop refuses it, so by hand
        run_sync(fetchval(lab_server.url, f"DROP DATABASE IF EXISTS {databases.quote(n)} WITH (FORCE)"))


def test_reap_drops_only_databases_whose_owner_is_gone(lab_server, names) -> None:
    url = lab_server.url
    dead, live, unmarked, elsewhere = names("dead"), names("live"), names("unmarked"), names("elsewhere")
    subprocess.run([sys.executable, "-c", CREATE_AND_EXIT, url, dead], check=True)
    run_sync(databases.create(url, live))
    run_sync(databases.create(url, unmarked))
    run_sync(fetchval(url, f"COMMENT ON DATABASE {databases.quote(unmarked)} IS NULL"))
    run_sync(databases.create(url, elsewhere))
    other = owners.Owner("another-host", "boot", 1, "1")
    run_sync(fetchval(url, f"COMMENT ON DATABASE {databases.quote(elsewhere)} IS '{other.comment}'"))

    reaped = run_sync(databases.reap(url))

    assert dead in reaped
    left = set(run_sync(databases.names(url, f"town_{os.getpid()}_%")))
    assert left == {live, unmarked, elsewhere}


def test_an_owner_handed_down_owns_what_the_child_makes(lab_server, names, monkeypatch) -> None:
    mine = names("handed")
    env = {**os.environ, owners.ENV_VAR: str(owners.current())}
    code = CREATE_AND_EXIT.replace("os.environ.pop('LAB_OWNER', None)", "pass")
    subprocess.run([sys.executable, "-c", code, lab_server.url, mine], check=True, env=env)

    assert mine not in run_sync(databases.reap(lab_server.url))  # the child is gone, its owner (us) is not
    assert run_sync(databases.exists(lab_server.url, mine))


def test_a_reused_pid_is_not_the_owner() -> None:
    me = owners.current()
    assert not me.is_gone()
    assert owners.Owner(me.host, me.boot, me.pid, "0").is_gone()
    assert owners.parse(me.comment) == me
    assert owners.parse("made by hand") is None


def test_a_process_is_seen_while_it_lives_and_gone_once_it_ends() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()", "marker arg"],
                             stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        seen = owners.process(child.pid)
        while seen is not None and not seen.args.endswith("marker arg") and time.monotonic() < deadline:
            time.sleep(0.01)  # forked, not yet through exec: its argv is the parent's, or none for a moment
            seen = owners.process(child.pid)
        assert seen is not None and seen.ppid == os.getpid() and seen.args.endswith("marker arg"), seen
        assert child.pid in {p.pid for p in owners.processes()}
        me = owners.current()
        assert not owners.Owner(me.host, me.boot, child.pid, seen.started).is_gone()
        assert owners.Owner(me.host, me.boot, child.pid, seen.started + "0").is_gone()  # another start: not it
    finally:
        child.communicate(b"")
    assert owners.process(child.pid) is None
    assert owners.Owner(me.host, me.boot, child.pid, seen.started).is_gone()


def test_a_zombie_is_not_a_live_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while owners.process(child.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)  # it exits; unreaped, the kernel keeps it as a zombie
        assert owners.process(child.pid) is None
        assert os.waitpid(child.pid, os.WNOHANG)[0] == child.pid, "it was a zombie, still ours to reap"
    finally:
        child.returncode = 0  # reaped above (or it lingers: then the assertion said so)


MAKE_TEMP_AND_EXIT = "from labsupport import owners; print(owners.temp_dir('probe'))"


def test_temp_folders_of_a_gone_owner_are_removed_and_ours_kept(tmp_path, monkeypatch) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop(owners.ENV_VAR, None)
    theirs = subprocess.run([sys.executable, "-c", MAKE_TEMP_AND_EXIT], env=env, check=True,
                            capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv(owners.ENV_VAR, raising=False)
    ours = owners.temp_dir("probe")
    unrelated = tmp_path / "isolation-lab-tmp-made-by-hand"
    unrelated.mkdir()

    removed = owners.reap_temp_dirs(tmp_path)

    assert [str(p) for p in removed] == [theirs]
    assert ours.is_dir() and unrelated.is_dir()


def test_a_start_of_the_lab_reaps_and_says_so_in_one_line(cluster, tmp_path) -> None:
    info, _ = cluster.up()
    subprocess.run([sys.executable, "-c", CREATE_AND_EXIT, info.url, "killed_run_db"], check=True,
                   env={k: v for k, v in os.environ.items() if k != owners.ENV_VAR})
    (tmp_path / "pytest.ini").write_text("[pytest]\nlab_start_server = true\nasyncio_default_fixture_loop_scope = function\n")
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FORCE_COLOR"))}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                         env=env | {"LAB_HOME": str(cluster.home)}, capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stdout + run.stderr
    said = [line for line in (run.stdout + run.stderr).splitlines() if "left behind" in line]
    assert len(said) == 1 and "1 database(s) (killed_run_db)" in said[0], run.stdout + run.stderr
    assert not run_sync(databases.exists(info.url, "killed_run_db"))
