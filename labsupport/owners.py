"""Who made a database, and whether they still live: how the lab reaps what killed runs left.

Every database the lab creates carries a comment naming its owner: the process that made it
(a notebook's kernel, a pytest process, a worker), or the one named by ``LAB_OWNER`` when a
parent hands its ownership down (a notebook runs a scenario suite whose databases it then
reads). An owner is ``host``, the kernel's boot id, the pid and the process's start time, so
a pid reused after a reboot or by another program never passes for the owner. Whether a process
lives is read in one place, ``process`` (``processes`` for all of them): the launcher asks it which
postgres serves a data folder, the tests which processes a run left.

Temporary folders follow the same rule: ``temp_dir`` names its owner's pid and start time in
the folder's name, and ``reap_temp_dirs`` removes this user's folders whose owner is gone.

Reaping drops a database only when its comment is the lab's, names this host and boot, and
its process is gone. A database made on another host is never reaped: the lab cannot tell
whether its owner lives. A database without the lab's comment is never dropped at all, by any
command or run (``is_lab_made``; ``databases.drop_lab_made`` is the one place that drops). The mark is a
second statement after CREATE DATABASE, which cannot run in a transaction; Ctrl-C and SIGTERM wait
for it, so only a SIGKILL between the two leaves an unmarked database, which ``labsupport reset --force``
removes with the cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import NamedTuple

__all__ = ["Process", "process", "processes", "Owner", "MARK", "is_lab_made", "current", "this_process", "parse", "ENV_VAR",
           "temp_dir", "temp_folder", "reap_temp_dirs", "TEMP_PREFIX"]

MARK = "isolation-lab owner "
ENV_VAR = "LAB_OWNER"


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class Process(NamedTuple):
    """A live process as the kernel shows it. ``started`` tells it from a later one given the same pid."""

    pid: int
    ppid: int
    started: str  # /proc's start time in clock ticks since boot; elsewhere ps's lstart, dashed
    name: str  # the kernel's short name (comm), e.g. "postgres"
    argv: tuple[str, ...]  # empty for a kernel thread; where there is no /proc, ps's whole line as one item

    @property
    def args(self) -> str:
        """The command line as one string, as ``ps`` shows it."""
        return " ".join(self.argv)

    def still_runs(self) -> bool:
        """Whether this very process still runs: its pid not taken by a later one (its parent may differ)."""
        return _start_time(self.pid) == self.started


_PROC = Path("/proc")


def process(pid: int) -> Process | None:
    """The live process with this pid, or None: none, or a zombie (it has ended; only its parent has not
    reaped it). What the launcher, the reapers and the tests ask to know whether a process lives."""
    if (_PROC / "self").is_dir():
        return _from_proc(pid)
    found = _from_ps("-p", str(pid))
    return found[0] if found else None


def processes() -> list[Process]:
    """Every live process of this host that this user may see."""
    if not (_PROC / "self").is_dir():
        return _from_ps("-A")
    found = (_from_proc(int(entry.name)) for entry in _PROC.iterdir() if entry.name.isdigit())
    return [p for p in found if p is not None]


def _from_proc(pid: int) -> Process | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:  # no such process, or it ended between the two reads
        return None
    name, _, rest = stat.partition(" (")[2].rpartition(") ")  # comm may hold spaces and parentheses
    fields = rest.split()  # from field 3 (state) on
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
    return Process(pid, int(fields[1]), fields[19], name, argv)  # field 4: ppid; field 22: starttime


def _from_ps(*which: str) -> list[Process]:
    """Processes from ``ps`` (no /proc: macOS). Paths may hold spaces, so the command stays one string."""
    out = subprocess.run(["ps", "-ww", "-o", "pid=,ppid=,stat=,lstart=,command=", *which], capture_output=True,
                         text=True, check=False)
    found = []
    for line in out.stdout.splitlines():
        parts = line.split(None, 8)  # pid, ppid, stat, five words of lstart, the command
        if len(parts) == 9 and parts[0].isdigit() and not parts[2].startswith("Z"):
            found.append(Process(int(parts[0]), int(parts[1]), "-".join(parts[3:8]),
                                 Path(parts[8].split(" ", 1)[0]).name, (parts[8],)))
    return found


def _start_time(pid: int) -> str | None:
    """A live process's start time, as ``Owner.started`` records it; None if there is no such process."""
    found = process(pid)
    return found.started if found else None


@dataclass(frozen=True)
class Owner:
    """A process on a host, identified so that its death can be told for sure."""

    host: str
    boot: str
    pid: int
    started: str

    def __str__(self) -> str:
        return f"{self.host} {self.boot or '-'} {self.pid} {self.started}"

    @property
    def comment(self) -> str:
        return MARK + str(self)

    def is_here(self) -> bool:
        """Made on this host since its last boot: only then can the lab tell if it lives."""
        return self.host == socket.gethostname() and self.boot == _boot_id()

    def is_gone(self) -> bool:
        """True only when certain: on this host and boot, and no process with that pid and start time."""
        return self.is_here() and _start_time(self.pid) != self.started


def is_lab_made(comment: str | None) -> bool:
    """True when a database's comment is the lab's mark: the lab made it and may drop it.

    Any comment that starts with ``MARK`` counts, also one that names no owner ``parse`` can read
    (a kept template marked for the lab itself); ``reap`` still drops only those whose parsed owner
    is gone. A database with no comment, or another comment, was made by a person: never dropped."""
    return bool(comment) and str(comment).startswith(MARK)


def parse(text: str | None) -> Owner | None:
    """The owner a database comment names, or None if the comment is not the lab's."""
    if not text or not text.startswith(MARK):
        return None
    parts = text[len(MARK):].split(" ")
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, boot, pid, started = parts
    return Owner(host, "" if boot == "-" else boot, int(pid), started)


def current() -> Owner:
    """The owner of what this process creates: ``LAB_OWNER`` if a parent handed it down, else this process."""
    handed = parse(MARK + os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None
    if handed is not None:
        return handed
    return this_process()


def this_process() -> Owner:
    """This very process, whatever ``LAB_OWNER`` says: what a use of the lab's server names."""
    pid = os.getpid()
    return Owner(socket.gethostname(), _boot_id(), pid, _start_time(pid) or "?")


TEMP_PREFIX = "isolation-lab-tmp-"


def temp_dir(purpose: str) -> Path:
    """A private temporary folder whose name says who owns it: ``isolation-lab-tmp-<purpose>-<pid>-<start>-XXXX``.

    Remove it when done, as with ``tempfile.mkdtemp``; if the owner is killed first, the next
    start of the lab removes it (``reap_temp_dirs``).
    """
    owner = current()
    started = owner.started.replace("-", "_")  # macOS's lstart has dashes; the name is split on them
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{purpose.replace('-', '_')}-{owner.pid}-{started}-"))


@contextlib.contextmanager
def temp_folder(purpose: str) -> Iterator[Path]:
    """``temp_dir`` for a ``with`` block: removed at its end, or by a later start if we are killed first."""
    path = temp_dir(purpose)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def reap_temp_dirs(root: Path | None = None) -> list[Path]:
    """Remove this user's ``temp_dir`` folders whose owner is gone; returns them."""
    removed = []
    for path in Path(root or tempfile.gettempdir()).glob(TEMP_PREFIX + "*"):
        parts = path.name.rsplit("-", 3)
        try:
            if len(parts) != 4 or not parts[1].isdigit() or path.lstat().st_uid != os.geteuid():
                continue
        except OSError:
            continue
        owner = Owner(socket.gethostname(), _boot_id(), int(parts[1]), parts[2].replace("_", "-"))
        if owner.is_gone():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
