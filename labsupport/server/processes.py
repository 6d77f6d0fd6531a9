"""Process checks: is a pid really the postgres serving our data folder, and which TCP ports are free.

A pid is only ever signalled after ``is_our_postmaster`` said yes: the pid file can be stale
and the pid recycled by an unrelated process. Where there is no /proc (macOS), ``ps`` gives
the whole command line as one string; paths may hold spaces, so it is matched as launched.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from .. import owners

__all__ = ["proc_argv", "is_our_postmaster", "postmaster_pid", "find_postmaster", "wait_gone", "port_free", "free_port"]


def proc_argv(pid: int) -> list[str] | None:
    """The argv of a live (non-zombie) process, or None (where there is no /proc: ps's whole line as one item)."""
    found = owners.process(pid)
    return list(found.argv) if found and found.argv else None


def is_our_postmaster(pid: int, data_dir: Path) -> bool:
    return _serves(proc_argv(pid) or [], data_dir)


def _serves(argv: list[str] | tuple[str, ...], data_dir: Path) -> bool:
    """Whether a command line is a postgres serving ``data_dir``."""
    if not argv:
        return False
    if len(argv) == 1:  # ps's command line: paths may hold spaces, so match what we launched
        command = argv[0]
        return any(f" -D {d} " in command + " " for d in {str(data_dir), os.path.realpath(data_dir)}) and \
            Path(command.split(" -D ", 1)[0]).name in ("postgres", "postmaster")
    if Path(argv[0]).name not in ("postgres", "postmaster"):
        return False
    try:
        given = argv[argv.index("-D") + 1]
    except (ValueError, IndexError):
        return False
    return os.path.realpath(given) == os.path.realpath(data_dir)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def find_postmaster(data_dir: Path) -> int | None:
    """The postmaster serving ``data_dir``, found without reading the data folder (it may not be ours
    to read): by the command lines of the live processes. None when none serves it."""
    return next((p.pid for p in owners.processes() if _serves(p.argv, data_dir)), None)


def wait_gone(pid: int, data_dir: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_our_postmaster(pid, data_dir):
            return True
        time.sleep(0.05)
    return not is_our_postmaster(pid, data_dir)




def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres binds: TIME_WAIT is no conflict
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
