"""The launcher against real PostgreSQL clusters: root, stale pids, two clusters, TCP, versions."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labsupport import databases, server
from labsupport.connection import fetchval, run_sync
from labsupport.errors import LabError
from labsupport.server import Cluster


def _owner_of(pid: int) -> int:
    return os.stat(f"/proc/{pid}").st_uid


def test_up_is_idempotent_and_down_stops(cluster: Cluster) -> None:
    info, started = cluster.up()
    again, started_again = cluster.up()
    assert started and not started_again
    assert again.pid == info.pid
    assert run_sync(fetchval(info.url, "SELECT 1")) == 1
    assert cluster.down() is True
    assert cluster.running() is None
    assert cluster.down() is False


def test_a_socket_folder_others_could_enter_is_not_reused(cluster: Cluster) -> None:
    info, _ = cluster.up()
    cluster.down()
    stale = Path(info.socket_dir or "")
    stale.mkdir(exist_ok=True)
    os.chmod(stale, 0o777)  # as if someone else had made it under the recorded name
    try:
        again, _ = cluster.up()
        assert again.socket_dir != info.socket_dir
    finally:
        stale.rmdir()


def test_a_plain_up_accepts_a_running_tcp_server(cluster: Cluster) -> None:
    tcp, _ = cluster.up(tcp=True)
    plain, started = cluster.up()
    assert not started and plain.pid == tcp.pid


def test_throwaway_settings_are_in_force(cluster: Cluster) -> None:
    info, _ = cluster.up()
    for name in ("fsync", "synchronous_commit", "full_page_writes"):
        assert run_sync(fetchval(info.url, f"SHOW {name}")) == "off"
    assert run_sync(fetchval(info.url, "SHOW listen_addresses")) == ""  # no TCP by default


def test_runs_unprivileged_creates_no_user_and_touches_no_parent(cluster: Cluster) -> None:
    passwd_before = Path("/etc/passwd").read_text()
    parents = [p for p in cluster.home.parents]
    modes_before = {p: os.stat(p).st_mode for p in parents}
    info, _ = cluster.up()
    assert info.pid is not None
    owner = _owner_of(info.pid)
    if os.geteuid() == 0:  # CI's path: postgres refuses root, so an existing unprivileged user runs it
        assert owner != 0
        assert pwd.getpwuid(owner).pw_name in ("postgres", "nobody", os.environ.get("LAB_PG_USER"))
    else:
        assert owner == os.geteuid()
    assert Path("/etc/passwd").read_text() == passwd_before
    assert {p: os.stat(p).st_mode for p in parents} == modes_before


def test_binaries_in_a_private_folder_are_copied_not_chmodded(tmp_path: Path) -> None:
    from labsupport.server import binaries

    found = binaries.find()
    if os.geteuid() != 0:  # an ordinary user runs the server as itself: its own files are readable
        from labsupport.server.users import server_user

        assert server_user() is None
        return
    private = tmp_path / "home"  # pytest's tmp_path is 0700 as root: the server user cannot enter
    private.mkdir(mode=0o700)
    import shutil

    shutil.copytree(found.bindir.parent, private / "pginstall", symlinks=True)
    hidden = binaries.Binaries(private / "pginstall" / "bin", found.source, found.version)
    from labsupport.server.users import ServerUser

    entry = pwd.getpwnam("nobody")
    usable = binaries.readable_by(hidden, ServerUser(entry.pw_uid, entry.pw_gid, "nobody"))
    assert usable.bindir != hidden.bindir
    assert "copied to" in usable.source
    assert oct(os.stat(private).st_mode & 0o777) == oct(0o700)
    try:
        out = subprocess.run([str(usable.exe("postgres")), "--version"], user=entry.pw_uid, group=entry.pw_gid,
                             capture_output=True, text=True, cwd="/", check=True)
        assert found.version in out.stdout
    finally:
        shutil.rmtree(usable.bindir.parent)  # this test's copy only: its name comes from tmp_path


def test_a_killed_cluster_leaves_no_shared_memory_behind_once_destroyed(cluster: Cluster) -> None:
    """Its dynamic shared memory lives in the data folder, so kill -9 then destroy leaves nothing in
    /dev/shm (PostgreSQL's default, posix, would leave /dev/shm/PostgreSQL.<n> files until a reboot)."""
    info, _ = cluster.up()
    assert info.pid is not None and info.data_dir
    assert run_sync(fetchval(info.url, "SHOW dynamic_shared_memory_type")) == "mmap"
    segments = sorted((Path(info.data_dir) / "pg_dynshmem").glob("mmap.*"))
    mapped = Path(f"/proc/{info.pid}/maps").read_text()
    assert segments and "/dev/shm/PostgreSQL." not in mapped, mapped[-2000:]
    os.kill(info.pid, 9)
    cluster.destroy()
    assert not any(s.exists() for s in segments)


def test_recovers_after_kill_9_within_5_seconds(cluster: Cluster) -> None:
    info, _ = cluster.up()
    assert info.pid is not None
    os.kill(info.pid, 9)
    started = time.monotonic()
    again, started_now = cluster.up()
    elapsed = time.monotonic() - started
    assert started_now
    assert elapsed < 5.0, f"recovery took {elapsed:.1f} s"
    assert run_sync(fetchval(again.url, "SELECT 1")) == 1


def test_stale_pid_file_naming_an_unrelated_process_is_never_signalled(cluster: Cluster) -> None:
    info, _ = cluster.up()
    cluster.down()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile = Path(info.data_dir or "") / "postmaster.pid"
        pidfile.write_text(f"{bystander.pid}\n{info.data_dir}\n")
        assert cluster.down() is False  # not ours: nothing signalled
        again, started = cluster.up()
        assert started and again.pid != bystander.pid
        assert bystander.poll() is None, "the unrelated process was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_two_clusters_at_once_are_separate(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> None:
    import shutil
    import tempfile

    other_root = Path(tempfile.mkdtemp(prefix="lab-test-"))
    os.chmod(other_root, 0o755)
    other = Cluster(other_root / "state")
    try:
        a, _ = cluster.up()
        b, _ = other.up()
        assert a.socket_dir != b.socket_dir and a.pid != b.pid
        run_sync(databases.create(a.url, "only_in_a"))
        assert run_sync(databases.exists(a.url, "only_in_a"))
        assert not run_sync(databases.exists(b.url, "only_in_a"))
    finally:
        other.destroy()
        shutil.rmtree(other_root, ignore_errors=True)


def test_tcp_listens_on_loopback_only_with_a_password(cluster: Cluster) -> None:
    info, _ = cluster.up(tcp=True)
    assert info.tcp and info.port
    assert run_sync(fetchval(info.url, "SHOW listen_addresses")) == "127.0.0.1"
    wrong = info.url.replace(info.url.split(":")[2].split("@")[0], "wrong-password")
    with pytest.raises(LabError, match="wrong password"):
        run_sync(fetchval(wrong, "SELECT 1"))


def test_busy_port_requested_explicitly_is_one_clear_error(cluster: Cluster) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LabError, match=rf"port {port} on 127.0.0.1 is in use"):
            cluster.up(tcp=True, port=port)


def test_collision_on_a_chosen_free_port_is_retried(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        offers = iter([taken])
        from labsupport.server import cluster as cluster_module

        real = cluster_module.free_port
        monkeypatch.setattr(cluster_module, "free_port", lambda: next(offers, None) or real())
        info, started = cluster.up(tcp=True)
        assert started and info.port != taken
        assert run_sync(fetchval(info.url, "SELECT 1")) == 1


def test_data_folder_of_another_major_version_names_reset(cluster: Cluster) -> None:
    info, _ = cluster.up()
    cluster.down()
    (Path(info.data_dir or "") / "PG_VERSION").write_text("9\n")
    with pytest.raises(LabError, match="labsupport reset"):
        cluster.up()
    cluster.destroy()
    again, started = cluster.up()
    assert started and run_sync(fetchval(again.url, "SELECT 1")) == 1


def test_external_server_is_used_as_is_and_never_stopped(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    info, _ = cluster.up(tcp=True)
    monkeypatch.setenv("LAB_DATABASE_URL", info.url.replace("postgresql+asyncpg", "postgresql"))
    used, started = server.up()
    assert not started and not used.managed and used.version
    assert server.down() is False
    assert cluster.running() is not None


# ---------------------------------------------------------------- where the cluster's files go


def test_memory_ok_says_why_the_files_go_where_they_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from labsupport.server import cluster as cluster_module
    from labsupport.server.cluster import Placement, memory_ok

    monkeypatch.delenv("LAB_DATA_IN_MEMORY", raising=False)
    here = memory_ok()
    assert re.fullmatch(r"/dev/shm (has \d+ MiB free|has under 1 GiB free \(\d+ MiB free\)|is missing)",
                        here.why), here
    assert here.in_memory == ("under" not in here.why and "missing" not in here.why)
    monkeypatch.setenv("LAB_DATA_IN_MEMORY", "0")
    assert memory_ok() == Placement(False, "LAB_DATA_IN_MEMORY=0")
    missing = tmp_path / "no-shm"
    monkeypatch.setattr(cluster_module, "_SHM", str(missing))
    monkeypatch.delenv("LAB_DATA_IN_MEMORY")
    assert memory_ok() == Placement(False, f"{missing} is missing")
    monkeypatch.setenv("LAB_DATA_IN_MEMORY", "1")
    with pytest.raises(LabError, match=f"^LAB_DATA_IN_MEMORY is set but {missing} is missing: unset it$"):
        memory_ok()


def test_doctor_prints_the_reason_the_files_are_on_disk(cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    from labsupport.server import cluster as cluster_module
    from labsupport.teaching.doctor import lab as doctor

    missing = tmp_path / "no-shm"
    monkeypatch.setattr(cluster_module, "_SHM", str(missing))
    monkeypatch.delenv("LAB_DATA_IN_MEMORY", raising=False)
    info, _ = cluster.up()
    data = Path(info.data_dir or "").resolve()
    assert not data.is_relative_to(Path("/dev/shm")), data
    line = doctor._placement(info, 0.004).line()
    assert line == f"[PASS] cluster files: on disk ({data}; {missing} is missing): a template clone took 4 ms"
