"""Room on the disk for the lab's server: a nearly full disk is named before PostgreSQL panics on it.

PostgreSQL writes its WAL in 16 MiB segments; with less than one segment free, the next one
cannot be made, the WAL writer panics and the server stops. The lab says so in one line
instead of a start that fails with an unrelated message, or a run that dies half-way.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["MIN_FREE", "short_of_space", "no_space"]

MIN_FREE = 16 << 20  # one WAL segment


def _free(path: Path) -> int | None:
    """Bytes an unprivileged writer may still use where ``path`` (or its nearest existing parent) lives."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stats = os.statvfs(probe)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def short_of_space(paths: list[Path]) -> Path | None:
    """The first of ``paths`` on a file system with less than ``MIN_FREE`` left, else None."""
    for path in paths:
        free = _free(path)
        if free is not None and free < MIN_FREE:
            return path
    return None


def no_space(path: Path) -> str:
    """The one line that names a full disk, and what to do."""
    free = _free(path) or 0
    return (f"no space left on device in {path} ({free >> 20} MiB free; the lab's server needs "
            f"{MIN_FREE >> 20} MiB for its WAL): free some space there, or set LAB_HOME to a folder on another disk")
