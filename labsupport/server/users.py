"""Who runs postgres: whoever we are, or (as root) an existing unprivileged user, as a named type.

As root the lab never creates a user and never changes permissions of a folder it did not
create; it runs the server as ``LAB_PG_USER``, else ``postgres``, else ``nobody``. ``None``
everywhere below means "no switch: the server runs as the current user".
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple, TypedDict

from ..errors import LabError

__all__ = ["ServerUser", "server_user", "as_user", "reachable_by", "make_owned_dir"]

_CANDIDATES = ("postgres", "nobody")


class ServerUser(NamedTuple):
    """The unprivileged user postgres runs as when the lab runs as root."""

    uid: int
    gid: int
    name: str


def server_user() -> ServerUser | None:
    """None for 'whoever we are', or an existing unprivileged user as root."""
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get("LAB_PG_USER")
    for name in ([wanted] if wanted else _CANDIDATES):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            raise LabError(f"LAB_PG_USER={name} is root, and PostgreSQL refuses to run as root: name an unprivileged user")
        return ServerUser(entry.pw_uid, entry.pw_gid, name)
    if wanted:
        raise LabError(f"LAB_PG_USER={wanted} does not exist: name an existing unprivileged user (the lab creates none)")
    raise LabError(
        "running as root, PostgreSQL needs an unprivileged user and neither 'postgres' nor 'nobody' exists: "
        "set LAB_PG_USER to an existing user (the lab creates none), or run as an ordinary user"
    )


class AsUser(TypedDict, total=False):
    """The keyword arguments of ``subprocess.run`` and ``Popen`` that pick the user a command runs as."""

    user: int
    group: int
    extra_groups: list[int]


def as_user(user: ServerUser | None) -> AsUser:
    """``subprocess`` keyword arguments that run a command as ``user`` (none for the current user)."""
    if user is None:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": []}


def reachable_by(path: Path, user: ServerUser | None) -> bool:
    if user is None:
        return True
    test = shutil.which("test") or "/usr/bin/test"
    result = subprocess.run([test, "-x", str(path)], cwd="/", check=False, **as_user(user))
    return result.returncode == 0


def make_owned_dir(path: Path, user: ServerUser | None, mode: int = 0o700) -> None:
    """Create a folder of our own and hand it to the server user (we made it, so we may).

    A folder that already exists is left exactly as it is: initdb then says whether it can use it.
    """
    try:
        path.mkdir(mode=mode, parents=False)
    except FileExistsError:
        return
    os.chmod(path, mode)
    if user is not None:
        os.chown(path, user.uid, user.gid)
