"""Folders the lab makes in shared places (/tmp, /dev/shm), and a check that they are really ours."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import LabError

__all__ = ["own_dir"]


def own_dir(path: Path, mode: int = 0o755) -> Path:
    """Make ``path`` readable by everyone, or accept it only if an earlier run of ours made it.

    In a shared folder another user could have planted a folder or a symlink under our
    name; the lab would then run binaries or write a cluster where they chose.
    """
    try:
        path.mkdir(mode=mode)
        os.chmod(path, mode)  # ours, made just now: the umask must not narrow it
    except FileExistsError:
        pass
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise LabError(f"{path} exists but was not made by this user: remove it, or set LAB_HOME elsewhere")
    if info.st_mode & 0o022:
        raise LabError(f"{path} is writable by other users: remove it so the lab can make it afresh")
    return path
