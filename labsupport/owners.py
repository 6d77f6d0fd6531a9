"""Who made a database, and whether they still live: how the lab reaps what killed runs left.

Every database the lab creates carries a comment naming its owner: the process that made it
(a notebook's kernel, a pytest process, a worker), or the one named by ``LAB_OWNER`` when a
parent hands its ownership down (a notebook runs a scenario suite whose databases it then
reads). An owner is ``host``, the kernel's boot id, the pid and the process's start time, so
a pid reused after a reboot or by another program never passes for the owner.

Temporary folders follow the same rule: ``temp_dir`` names its owner's pid and start time in
the folder's name, and ``reap_temp_dirs`` removes this user's folders whose owner is gone.

Reaping drops a database only when its comment is the lab's, names this host and boot, and
its process is gone. A database made on another host is never reaped: the lab cannot tell
whether its owner lives. A database without the lab's comment is never dropped at all, by any
command or run (``is_lab_made``; ``databases.drop_lab_made`` is the one place that drops). (The mark is a second statement after
CREATE DATABASE, which cannot run in a transaction: a run killed in the millisecond between the
two leaves an unmarked database, for ``labsupport reset``.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["Owner", "MARK", "is_lab_made", "current", "this_process", "parse", "ENV_VAR", "temp_dir", "temp_folder", "reap_temp_dirs", "TEMP_PREFIX"]

MARK = "isolation-lab owner "
ENV_VAR = "LAB_OWNER"


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """A process's start time, as the kernel counts it; None if there is no such process."""
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2:].split()
        return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is gone; field 22: starttime
    out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return "-".join(out.stdout.split()) or None


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
        owner = Owner(socket.gethostname(), _boot_id(), int(parts[1]), parts[2])
        live = _start_time(owner.pid)
        if live is None or live.replace("-", "_") != owner.started:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
