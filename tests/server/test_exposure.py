"""Who can reach the lab's server: nobody over TCP by default; with --tcp, 127.0.0.1 only and a password;
the socket folder private to the server user. Checked where the kernel keeps it (the postmaster's
sockets in /proc), not only where PostgreSQL says it, on throwaway clusters (never the shared one)."""

from __future__ import annotations

import ipaddress
import os
import pwd
import socket
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from labsupport.connection import fetchval, run_sync
from labsupport.server import Cluster
from labsupport.server.users import server_user

needs_proc = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the kernel's sockets in /proc")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp* print each 32-bit word in host (little-endian here) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if sys.byteorder == "little" else raw
    return str(ipaddress.ip_address(words))


def tcp_listeners(pid: int) -> list[tuple[str, int]]:
    """The (address, port) pairs the process listens on, IPv4 and IPv6, as the kernel reports them."""
    mine = _socket_inodes(pid)
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in mine:  # 0A: LISTEN
                host, port = local.split(":")
                found.append((_address(host), int(port, 16)))
    return sorted(found)


def unix_listeners(pid: int) -> list[str]:
    mine = _socket_inodes(pid)
    paths = []
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[6] in mine:
            paths.append(fields[7])
    return sorted(paths)


def _labsupport(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env["LAB_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "labsupport", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@needs_proc
def test_no_tcp_listener_by_default(cluster: Cluster) -> None:
    started = _labsupport("up", home=cluster.home)
    assert started.returncode == 0, started.stderr
    info = cluster.running()
    assert info is not None and info.pid and not info.tcp
    assert tcp_listeners(info.pid) == []
    assert unix_listeners(info.pid) == [f"{info.socket_dir}/.s.PGSQL.{info.port}"]
    assert run_sync(fetchval(info.url, "SHOW listen_addresses")) == ""


@needs_proc
def test_tcp_listens_on_127_0_0_1_only_and_wants_a_password(cluster: Cluster) -> None:
    started = _labsupport("up", "--tcp", home=cluster.home)
    assert started.returncode == 0, started.stderr
    info = cluster.running()
    assert info is not None and info.pid and info.tcp and info.port
    assert tcp_listeners(info.pid) == [("127.0.0.1", info.port)]  # not 0.0.0.0, not ::, not a LAN address
    assert run_sync(fetchval(info.url, "SHOW listen_addresses")) == "127.0.0.1"
    password = info.url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert len(password) >= 16

    async def login(pw: str | None) -> object:
        conn = await asyncpg.connect(host="127.0.0.1", port=info.port, user="postgres", password=pw,
                                     database="postgres", timeout=10)
        try:
            return await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    for wrong in (None, "", "not-the-password"):
        with pytest.raises(asyncpg.InvalidPasswordError):  # the server asked for one and refused
            run_sync(login(wrong))
    assert run_sync(login(password)) == 1
    with socket.socket() as s:  # and nothing answers on another address of this machine
        s.settimeout(2)
        other = _non_loopback_address()
        if other:
            assert s.connect_ex((other, info.port)) != 0


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: picks the outgoing interface, sends nothing
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_socket_folder_and_state_are_private(cluster: Cluster) -> None:
    info, _ = cluster.up(tcp=True)
    folder = os.stat(info.socket_dir or "")
    user = server_user()
    assert stat.S_ISDIR(folder.st_mode)
    assert stat.S_IMODE(folder.st_mode) == 0o700, oct(folder.st_mode)
    assert folder.st_uid == (user.uid if user else os.geteuid())
    state = os.stat(cluster.state_file)  # it holds the TCP password
    assert stat.S_IMODE(state.st_mode) == 0o600 and state.st_uid == os.geteuid()


def test_another_user_cannot_enter_the_socket_folder(cluster: Cluster) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as another user")
    user = server_user()
    someone = next((e for e in map(_user_or_none, ("nobody", "daemon", "bin"))
                    if e and e.pw_uid not in (0, user.uid if user else -1)), None)
    if someone is None:
        pytest.skip("no other unprivileged user here")
    info, _ = cluster.up()
    socket_path = f"{info.socket_dir}/.s.PGSQL.{info.port}"
    probe = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept OSError as e:\n    print(e.errno); sys.exit(3)\n")
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    result = subprocess.run([python, "-c", probe, socket_path], user=someone.pw_uid, group=someone.pw_gid,
                            extra_groups=[], cwd="/", capture_output=True, text=True, check=False)
    if result.returncode not in (0, 3):
        pytest.skip(f"{someone.pw_name} cannot run {python}: {result.stderr.strip()[-200:]}")
    assert result.returncode == 3 and result.stdout.strip() == "13", "another user reached the trusted socket"
    assert run_sync(fetchval(info.url, "SELECT 1")) == 1  # while the lab itself can


def _user_or_none(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None
