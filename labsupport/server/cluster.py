"""The lab's own PostgreSQL: a throwaway cluster in a state folder (``.lab/`` by default).

The lab drives ``initdb`` and ``postgres`` itself. As root it never creates users and
never changes permissions of folders it did not create: it runs the server as an
existing unprivileged user (``users``). Health is judged by connecting, never by the pid
file, and a pid is signalled only when it is a postgres serving this very data folder
(``processes``). Where /dev/shm has a GiB free the cluster's files live there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..connection import connect, run_sync
from ..errors import LabError
from .base import SUPERUSER, ServerInfo
from .binaries import Binaries, readable_by
from .binaries import find as find_binaries
from .paths import own_dir
from .processes import find_postmaster, free_port, is_our_postmaster, port_free, postmaster_pid, wait_gone
from .users import ServerUser, as_user, make_owned_dir, reachable_by, server_user

__all__ = ["Cluster", "Placement", "memory_ok", "SHM"]

_START_TIMEOUT = 60.0  # a killed postmaster's backends can take a while to go on a loaded machine
_SOCKET_PATH_MAX = 100  # the kernel limit is ~107 bytes including ".s.PGSQL.<port>"
_FAST_SETTINGS = {  # a throwaway cluster: durability buys nothing here
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    # dynamic shared memory as files in the data folder (pg_dynshmem/), not /dev/shm/PostgreSQL.<n>:
    # a postmaster killed with kill -9 leaves its segments behind, and only a restart of the same data
    # folder would remove them; in the data folder they go when the cluster is destroyed
    "dynamic_shared_memory_type": "mmap",
}


@dataclass
class _State:
    """What ``up`` wrote down in ``<home>/server.json`` for later commands."""

    bindir: str
    source: str
    version: str
    data_dir: str
    socket_dir: str
    port: int
    tcp: bool
    password: str
    run_as: str | None = None
    extra: dict[str, str] = field(default_factory=dict)




class Cluster:
    """One throwaway cluster rooted at a state folder; the ``Server`` interface drives it."""

    managed = True

    def __init__(self, home: Path, home_from: str = "LAB_HOME") -> None:
        self.home = home
        self.home_from = home_from  # "LAB_HOME" or "default": how to name the folder in messages
        self.state_file = home / "server.json"
        self.log_file = home / "postgres.log"

    # -- whose lab this is

    def _home_error(self, exc: OSError) -> LabError:
        named = f"LAB_HOME={self.home}" if self.home_from == "LAB_HOME" else f"the lab's state folder {self.home}"
        return LabError(f"{named} cannot be used ({exc.strerror or exc}): set LAB_HOME to a folder you can write")

    def _foreign_owner(self) -> str | None:
        """The owner of this lab when it is someone else's (its state unreadable or its folder
        unwritable by us), else None. Root may use anyone's lab."""
        for path, access in ((self.state_file, os.R_OK | os.W_OK), (self.home, os.W_OK | os.X_OK)):
            try:
                uid = path.stat().st_uid
            except OSError:
                continue
            if uid != os.geteuid() and not os.access(path, access):
                return _user_name(uid)
        return None

    def _check_ours(self) -> None:
        """One line instead of "permission denied" when another user made this lab (root, usually)."""
        owner = self._foreign_owner()
        if owner is None:
            return
        pid = find_postmaster(self.home / "data")
        running = f"its server is running (pid {pid})" if pid else "its server is not running"
        raise LabError(
            f"the lab in {self.home} belongs to {owner} and {running}; you cannot use it as {_user_name(os.geteuid())}: "
            f"run labsupport as {owner}, or set LAB_HOME to a folder of your own"
        )

    def _check_home_creatable(self) -> None:
        """Without creating anything: a missing state folder could be made later by ``up``."""
        if self.home.is_dir():
            return
        existing = self.home
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        try:
            if not existing.is_dir():
                raise NotADirectoryError(20, "Not a directory", str(existing))
            probe = tempfile.mkdtemp(prefix=".lab-probe-", dir=existing)  # /proc, a read-only mount ...
        except OSError as exc:
            raise self._home_error(exc) from None
        os.rmdir(probe)

    # -- state on disk

    def _load(self) -> _State | None:
        try:
            return _State(**json.loads(self.state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save(self, state: _State) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the TCP password
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(state), fh, indent=2)
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._check_ours()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            fh = open(self.home / "lock", "a")
        except OSError as exc:
            raise self._home_error(exc) from None
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _data_dir(self, user: ServerUser | None) -> Path:
        """Where the cluster's files go: ``<home>/data``, or a folder of ours linked from there.

        In memory (``/dev/shm``) when there is room: a throwaway cluster loses nothing
        there, and a template clone drops from ~250 ms on a disk to ~6 ms. On disk when
        the server user cannot reach ``<home>`` (a 0700 home as root), a folder under the
        temp directory instead.
        """
        state = self._load()
        if state and (Path(state.data_dir) / "PG_VERSION").exists():
            return Path(state.data_dir)
        in_memory, on_disk = self._outside_candidates()
        if memory_ok().in_memory:
            outside = in_memory
        elif reachable_by(self.home, user):
            return self.home / "data"
        else:
            outside = on_disk
        outside = _claim_outside(outside)
        link = self.home / "data"
        if link.is_symlink() or not link.exists():
            link.unlink(missing_ok=True)
            link.symlink_to(outside / "data")  # so the cluster still shows up in <home>
        return outside / "data"

    def _outside_candidates(self) -> tuple[Path, Path]:
        """The two folders outside ``<home>`` this cluster may keep its files in: memory, then disk.

        Another user may have made one first: ``_claim_outside`` then takes a fresh name beside it.
        """
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:10]
        return Path(_SHM) / f"isolation-lab-{digest}", Path(tempfile.gettempdir()) / f"isolation-lab-{digest}"

    def _ours_outside(self, folder: Path) -> bool:
        """Whether ``folder`` is one ``_data_dir`` made for this cluster outside ``<home>``."""
        for candidate in self._outside_candidates():
            if folder == candidate or (folder.parent == candidate.parent
                                       and folder.name.startswith(f"{candidate.name}-")):
                with contextlib.suppress(OSError):
                    return os.lstat(folder).st_uid == os.geteuid() and folder.is_dir()
        return False

    # -- observing

    def info(self, state: _State, pid: int | None = None) -> ServerInfo:
        if state.tcp:
            url = f"postgresql+asyncpg://{SUPERUSER}:{state.password}@127.0.0.1:{state.port}/postgres"
        else:
            url = f"postgresql+asyncpg://{SUPERUSER}@/postgres?host={state.socket_dir}&port={state.port}"
        return ServerInfo(
            source=state.source, url=url, managed=True, version=state.version, pid=pid,
            data_dir=state.data_dir, socket_dir=state.socket_dir, port=state.port, tcp=state.tcp,
        )

    def _answers(self, state: _State) -> bool:
        async def probe() -> bool:
            try:
                conn = await connect(self.info(state).url, timeout=2.0)
            except LabError:
                return False
            await conn.close()
            return True

        return run_sync(probe())

    def running(self) -> ServerInfo | None:
        self._check_ours()
        self._check_home_creatable()
        state = self._load()
        if state is None or not self._answers(state):
            return None
        return self.info(state, postmaster_pid(Path(state.data_dir)))

    def status(self) -> ServerInfo | None:
        return self.running()

    def exists(self) -> bool:
        """Whether there is a cluster (or a data folder where one should be) to look into."""
        return self._load() is not None or os.path.lexists(self.home / "data")

    def source(self) -> str:
        return find_binaries().source

    # -- starting

    def _initdb(self, bins: Binaries, data_dir: Path, user: ServerUser | None, password: str) -> None:
        make_owned_dir(data_dir, user)
        fd, name = tempfile.mkstemp(prefix="lab-pw-", dir=data_dir.parent)  # a folder the server user reaches
        os.close(fd)
        pwfile = Path(name)
        try:
            pwfile.write_text(password + "\n")
            if user is not None:
                os.chown(pwfile, user.uid, user.gid)
            result = subprocess.run(
                [str(bins.exe("initdb")), "-D", str(data_dir), "-U", SUPERUSER, "--no-sync",
                 "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                 "-E", "UTF8", "--locale=C"],
                capture_output=True, text=True, cwd="/", check=False, **as_user(user),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise LabError(f"initdb failed in {data_dir}: {last}")

    def _check_version(self, bins: Binaries, data_dir: Path) -> None:
        try:
            found = (data_dir / "PG_VERSION").read_text().strip()
        except OSError:
            return
        if found != str(bins.major):
            raise LabError(
                f"the data folder {data_dir} was made by PostgreSQL {found}, but the lab now runs "
                f"PostgreSQL {bins.version}: run 'labsupport reset --force' to recreate it (its databases are lost)"
            )

    def _check_data_owner(self, data_dir: Path, user: ServerUser | None) -> None:
        """A data folder the server user does not own: postgres would refuse it, after we changed things."""
        try:
            owner = os.lstat(data_dir).st_uid
        except FileNotFoundError:
            return
        except OSError as exc:
            raise LabError(f"cannot look at the data folder {data_dir} ({exc.strerror}): "
                           "set LAB_HOME to a folder of your own") from None
        expected = user.uid if user else os.geteuid()
        if owner != expected:
            raise LabError(
                f"the data folder {data_dir} belongs to {_user_name(owner)}, but the server runs as "
                f"{_user_name(expected)}: run 'labsupport reset --force' to recreate it (its databases are lost), "
                "or set LAB_HOME to a folder of your own"
            )

    def _clear_stale_pid(self, data_dir: Path) -> None:
        pid = postmaster_pid(data_dir)
        if pid is None:
            return
        if is_our_postmaster(pid, data_dir):
            return
        # Dead, a zombie, or a recycled pid of an unrelated process: the file is stale.
        (data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _spawn(self, bins: Binaries, state: _State, user: ServerUser | None) -> subprocess.Popen[bytes]:
        args = [str(bins.exe("postgres")), "-D", state.data_dir, "-p", str(state.port),
                "-k", f'"{state.socket_dir}"', "-c", f"listen_addresses={'127.0.0.1' if state.tcp else ''}"]
        for key, value in _FAST_SETTINGS.items():
            args += ["-c", f"{key}={value}"]
        log = _private_log(self.log_file)
        try:
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd="/", start_new_session=True, **as_user(user))
        finally:
            log.close()

    def _log_since(self, since: int) -> str:
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(since)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    @staticmethod
    def _reason(log: str) -> str:
        lines = log.strip().splitlines()
        important = [ln for ln in lines if "FATAL" in ln or "ERROR" in ln] or lines
        return important[-1] if important else ""

    def _start(self, bins: Binaries, state: _State, user: ServerUser | None) -> int:
        """Start postgres and wait until it answers; returns its pid."""
        deadline = time.monotonic() + _START_TIMEOUT
        while True:
            self._clear_stale_pid(Path(state.data_dir))
            offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            proc = self._spawn(bins, state, user)
            while time.monotonic() < deadline:
                if self._answers(state):
                    return proc.pid
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
            else:
                if is_our_postmaster(proc.pid, Path(state.data_dir)):
                    os.kill(proc.pid, signal.SIGQUIT)
                raise LabError(f"PostgreSQL did not answer within {_START_TIMEOUT:g} s: see {self.log_file}")
            log = self._log_since(offset)
            reason = self._reason(log)
            retry = "still in use" in reason or "already exists" in reason  # leftovers of a killed postmaster
            if "Address already in use" in log and state.tcp:
                raise _PortBusy(state.port)
            if not retry or time.monotonic() > deadline:
                raise LabError(f"PostgreSQL did not start: {reason or 'no message'} (log: {self.log_file})")
            time.sleep(0.2)

    def up(self, tcp: bool = False, port: int | None = None) -> tuple[ServerInfo, bool]:
        """Start the cluster unless it already answers. Returns (info, started_now)."""
        with self._locked():
            state = self._load()
            wanted = (state is not None and (state.tcp or not tcp)  # a TCP server also has its socket
                      and (port is None or port == state.port))
            if state and wanted and self._answers(state):
                return self.info(state, postmaster_pid(Path(state.data_dir))), False
            if state and self._answers(state):
                raise LabError(
                    f"the lab's server is already running {'on TCP port ' + str(state.port) if state.tcp else 'on a Unix socket'}: "
                    "run 'labsupport down' first to change how it listens"
                )
            if port is not None and tcp and not port_free(port):
                raise LabError(f"port {port} on 127.0.0.1 is in use: choose another with --port, or leave --port out")
            user = server_user()
            bins = find_binaries()
            if user is not None:
                bins = readable_by(bins, user)
            data_dir = self._data_dir(user)
            self._check_data_owner(data_dir, user)
            password = state.password if state else secrets.token_urlsafe(18)
            if state is None or not (data_dir / "PG_VERSION").exists():
                if data_dir.exists() and any(data_dir.iterdir()):
                    if not (data_dir / "PG_VERSION").exists():
                        raise LabError(f"{data_dir} exists but holds no cluster: run 'labsupport reset --force' to recreate it")
                else:
                    self._initdb(bins, data_dir, user, password)
            self._check_version(bins, data_dir)
            socket_dir = self._socket_dir(user, state)
            for _ in range(5):
                chosen = port if port is not None else (free_port() if tcp else 5432)
                new = _State(bindir=str(bins.bindir), source=bins.source, version=bins.version,
                             data_dir=str(data_dir), socket_dir=str(socket_dir), port=chosen, tcp=tcp,
                             password=password, run_as=user.name if user else None)
                self._save(new)
                try:
                    pid = self._start(bins, new, user)
                except _PortBusy:
                    if port is not None:
                        raise LabError(f"port {chosen} on 127.0.0.1 is in use: choose another with --port, or leave --port out") from None
                    continue  # someone took the free port between our check and the bind
                return self.info(new, pid), True
            raise LabError("could not find a free TCP port on 127.0.0.1 after 5 tries: free some ports or drop --tcp")

    def _socket_dir(self, user: ServerUser | None, state: _State | None) -> Path:
        """A private folder for the socket: the last one if it is still ours and private, else a new one.

        Local logins are trusted, so whoever can enter this folder is a superuser.
        """
        if state and _private_to(Path(state.socket_dir), user.uid if user else os.geteuid()):
            return Path(state.socket_dir)
        base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        path = Path(tempfile.mkdtemp(prefix="lab-", dir=base))
        if len(str(path / ".s.PGSQL.65535")) > _SOCKET_PATH_MAX:
            path.rmdir()
            raise LabError(f"the socket folder {path} makes too long a socket path: set TMPDIR to a short folder such as /tmp")
        if user is not None:  # mkdtemp made it 0700 for us; the server user must own it
            os.chown(path, user.uid, user.gid)
        return path

    # -- stopping

    def down(self) -> bool:
        """Stop the cluster if it runs; True when something was stopped."""
        with self._locked():
            state = self._load()
            if state is None:
                return False
            data_dir = Path(state.data_dir)
            pid = postmaster_pid(data_dir)
            stopped = False
            if pid is not None and is_our_postmaster(pid, data_dir):
                for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
                    if not is_our_postmaster(pid, data_dir):  # gone, or the pid was reused meanwhile
                        break
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                    if wait_gone(pid, data_dir, wait):
                        break
                stopped = True
            if Path(state.socket_dir).is_dir() and not any(Path(state.socket_dir).iterdir()):
                Path(state.socket_dir).rmdir()
            return stopped

    def reset(self) -> ServerInfo:
        """Delete the cluster and make a new, empty one (its databases are lost)."""
        self.destroy()
        return self.up()[0]

    def destroy(self) -> None:
        """Stop and delete the cluster and its state (only folders the lab made)."""
        self.down()
        with self._locked():
            state = self._load()
            link = self.home / "data"
            places = {Path(state.data_dir)} if state else set()
            if link.is_symlink():
                places.add(Path(os.readlink(link)))
                link.unlink()
            places.add(link)
            for data in places:
                shutil.rmtree(data, ignore_errors=True)
                if self._ours_outside(data.parent):  # the folder _data_dir made for us outside <home>
                    shutil.rmtree(data.parent, ignore_errors=True)
            if state:
                shutil.rmtree(state.socket_dir, ignore_errors=True)
            self.state_file.unlink(missing_ok=True)


def _claim_outside(wanted: Path) -> Path:
    """``wanted`` when it is ours (made now, or by an earlier run), else a fresh folder beside it.

    In /dev/shm or the temporary folder anyone can make ``wanted`` first: a folder of another user
    (or one open to them) is left alone, and the cluster goes to a name nobody could guess, said
    in one line, instead of refusing to start.
    """
    try:
        return own_dir(wanted)
    except LabError:
        pass
    fresh = Path(tempfile.mkdtemp(prefix=f"{wanted.name}-", dir=wanted.parent))
    os.chmod(fresh, 0o755)  # as own_dir: the server user must reach the data folder inside
    print(f"labsupport: {wanted} belongs to another user or is open to them; the cluster's files go to {fresh}",
          file=sys.stderr)
    return fresh


def _private_log(path: Path) -> BinaryIO:
    """``postgres.log`` opened to append, readable by us alone (it names databases, users and queries)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():  # a log from before, made under a wider umask
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "ab")
    except BaseException:
        os.close(fd)
        raise


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _private_to(path: Path, uid: int) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid and not info.st_mode & 0o077


SHM = _SHM = "/dev/shm"  # SHM: for labsupport doctor, which says where the files are
_SHM_MIN_FREE = 1 << 30  # Docker's default 64 MB /dev/shm is far too small for a cluster


@dataclass(frozen=True)
class Placement:
    """Whether a new cluster's files go to memory, and why: ``labsupport doctor`` prints the reason."""

    in_memory: bool
    why: str


def memory_ok() -> Placement:
    """Whether the cluster may live in memory: LAB_DATA_IN_MEMORY=0/1, else if /dev/shm has room."""
    given = os.environ.get("LAB_DATA_IN_MEMORY", "").strip()
    choice = given.lower()
    if choice in ("0", "no", "false", "off"):
        return Placement(False, f"LAB_DATA_IN_MEMORY={given}")
    room = _shm_room()
    if choice in ("1", "yes", "true", "on"):
        if room:
            raise LabError(f"LAB_DATA_IN_MEMORY is set but {room}: unset it")
        return Placement(True, f"LAB_DATA_IN_MEMORY={given}")
    return Placement(not room, room or f"{_SHM} has {_shm_free_mib()} MiB free")


def _shm_room() -> str:
    """Why /dev/shm cannot take a cluster, or "" when it can."""
    free = _shm_free_mib()
    if free is None:
        return f"{_SHM} is missing"
    if not os.access(_SHM, os.W_OK | os.X_OK):
        return f"{_SHM} is read-only here"
    if free << 20 < _SHM_MIN_FREE:
        return f"{_SHM} has under {_SHM_MIN_FREE >> 30} GiB free ({free} MiB free)"
    return ""


def _shm_free_mib() -> int | None:
    try:
        stats = os.statvfs(_SHM)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize >> 20


class _PortBusy(Exception):
    def __init__(self, port: int) -> None:
        self.port = port
