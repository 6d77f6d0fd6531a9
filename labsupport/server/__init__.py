"""The launcher room: the lab's PostgreSQL, its own cluster or an existing server, behind one interface.

``current()`` is the one place that decides which server is in use: ``LAB_DATABASE_URL`` (read
by ``labsupport.settings``) names an existing server (``External``), else the lab's own cluster
in the state folder (``Cluster``). Both have the ``Server`` interface (``base``): ``up``, ``down``,
``status``, ``reset``, ``destroy``, ``source``. The module functions below ask ``current()``.

This module is also the one place that decides when the lab's own server stops. Whatever needs
it (a command, a test run, a notebook) holds a use (``acquire``/``release``, or ``use`` and
``ensure`` as ``with`` blocks; ``leases`` keeps them): the last use to end stops the server if a
use started it, a server started by ``labsupport up`` or ``lab`` keeps running, and ``down``
refuses while a live use holds it unless forced.

Modules: ``base`` (ServerInfo, the interface), ``cluster`` (initdb, postgres, state),
``external``, ``leases`` (uses of the server), ``space`` (a nearly full disk), ``binaries``
(which PostgreSQL), ``processes`` (pid and port checks), ``users`` (who runs postgres as root),
``paths`` (folders in shared places).

The pytest plugin imports this package only inside the hooks and fixtures that start a server.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from ..settings import settings
from .base import Server, ServerInfo
from .cluster import Cluster
from .external import EXTERNAL, External
from .leases import ENV_VAR, Use, Uses, describe_command
from .processes import is_our_postmaster, postmaster_pid
from .space import no_space, short_of_space

__all__ = ["ServerInfo", "Server", "Cluster", "External", "EXTERNAL", "current", "up", "down", "status",
           "reset", "ensure", "use", "acquire", "release", "Lease", "holders", "reap", "say_reaped",
           "died", "stopped_line", "space_problem"]


def current() -> Cluster | External:
    """The server in use, decided here and nowhere else: LAB_DATABASE_URL's, else the lab's own."""
    cfg = settings()
    if cfg.external_url:
        return External(cfg.external_url)
    return Cluster(cfg.home, cfg.home_from)


@dataclass
class Lease:
    """One use of the server, from ``acquire`` until ``release``: what it got and what to undo."""

    info: ServerInfo
    started: bool  # this use started the server
    server: Cluster | External
    use: Use | None = None  # None: an external server, or a parent's use covers this process
    uses: Uses | None = None
    handed: str | None = None  # LAB_SERVER_USE before this use set it
    set_env: str | None = None  # what this use set LAB_SERVER_USE to (None: it left it alone)


def _uses(chosen: Cluster | External) -> Uses | None:
    """The uses of the lab's own server; None for an external one (the lab never stops it)."""
    if not isinstance(chosen, Cluster):
        return None
    chosen._check_ours()  # another user's lab: its one line, before any folder is made in it
    try:
        chosen.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise chosen._home_error(exc) from None
    return Uses(chosen.home)


def space_problem(chosen: Cluster | External | None = None) -> str | None:
    """The one line naming a nearly full disk under the lab's own server, else None."""
    chosen = chosen or current()
    if not isinstance(chosen, Cluster):
        return None
    data = chosen.home / "data"
    paths = [chosen.home] + ([data.resolve()] if data.exists() else [])
    short = short_of_space(paths)
    return no_space(short) if short else None


def _start(chosen: Cluster | External, tcp: bool, port: int | None) -> tuple[ServerInfo, bool]:
    problem = space_problem(chosen)
    if problem:
        raise LabError(problem)
    return chosen.up(tcp=tcp, port=port)


def up(tcp: bool = False, port: int | None = None, keep: bool = False) -> tuple[ServerInfo, bool]:
    """The server to use, started if needed, cleared of what killed runs left. Returns (info, started_now).

    No use is taken: with ``keep`` (``labsupport up``) the server then keeps running
    after the last use ends; without it, nothing changes about when it stops.
    """
    chosen = current()
    uses = _uses(chosen)
    with uses.locked() if uses else contextlib.nullcontext():
        info, started = _start(chosen, tcp, port)
        if uses and keep:
            uses.mark_stop(False)
    reap(info.url)
    return info, started


def acquire(command: str | None = None, tcp: bool = False, keep: bool = False, sweep: bool | None = None) -> Lease:
    """Take a use of the server (started if needed) until ``release``; see the module's docstring.

    ``keep`` (``labsupport lab``) keeps a server started here running after the last use ends. A
    server found running keeps its own rule: one a test run started for itself still stops when the
    last use (the run's, JupyterLab's) ends.

    A process whose parent's use covers it (``LAB_SERVER_USE``) takes none of its own, and does
    not ``reap`` unless ``sweep`` says so: its parent did at its start (an xdist worker reaping
    in the middle of another worker's test would take what that test is about to reap).
    """
    chosen = current()
    uses = _uses(chosen)
    if uses is None:  # an external server: nothing to count, but a parent's sweep still covers its children
        info, started = chosen.up(tcp=tcp)
        previous = os.environ.get(ENV_VAR)
        covered = (previous or "").startswith("external ")
        if not covered:
            os.environ[ENV_VAR] = f"external {os.getpid()}"
        if sweep if sweep is not None else not covered:
            reap(info.url)
        return Lease(info, started, chosen, handed=previous, set_env=None if covered else os.environ[ENV_VAR])
    with uses.locked():
        info, started = _start(chosen, tcp, None)
        covered = uses.covering() is not None
        taken = None if covered else uses.take(command or describe_command())
        if started:  # a server found running keeps the stop rule of whoever started it
            uses.mark_stop(not keep)
    lease = Lease(info, started, chosen, taken, uses, os.environ.get(ENV_VAR),
                  set_env=None if taken is None else str(taken.path))
    if lease.set_env is not None:
        os.environ[ENV_VAR] = lease.set_env  # what this process starts is covered by this use
    if sweep if sweep is not None else not covered:
        reap(info.url)
    return lease


def release(lease: Lease) -> bool:
    """End a use; the last one to end stops the server if a use started it. True when stopped here."""
    if lease.set_env is not None and os.environ.get(ENV_VAR) == lease.set_env:  # hand back what was there
        if lease.handed is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = lease.handed
    if lease.use is None or lease.uses is None:
        return False
    with lease.uses.locked():
        lease.uses.end(lease.use)
        if lease.uses.live() or not lease.uses.stop_marked():
            return False
        lease.uses.mark_stop(False)
        return lease.server.down()


@contextlib.contextmanager
def use(command: str | None = None, tcp: bool = False) -> Iterator[Lease]:
    """A use of the server for the duration of a ``with`` block (``acquire`` ... ``release``)."""
    lease = acquire(command, tcp=tcp)
    try:
        yield lease
    finally:
        release(lease)


@contextlib.contextmanager
def ensure(tcp: bool = False) -> Iterator[ServerInfo]:
    """A running server for the duration; stopped afterwards if a use started it and none is left."""
    with use(tcp=tcp) as lease:
        yield lease.info


def holders() -> list[Use]:
    """The live uses of the lab's own server (none for an external server)."""
    uses = _uses(current())
    if uses is None:
        return []
    with uses.locked():
        return uses.live()


def down(force: bool = False) -> bool:
    """Stop the lab's own server if it runs (an external one is never stopped); True when stopped.

    While a live use holds it, refuses with one line naming the uses, unless ``force``.
    """
    chosen = current()
    uses = _uses(chosen)
    if uses is None:
        return chosen.down()
    with uses.locked():
        held = _held_by_others(uses)
        if held and not force and chosen.status() is not None:
            raise LabError(f"the lab's server is in use by {held}: wait until they end, "
                           "or stop it anyway with 'labsupport down --force'")
        uses.mark_stop(False)
        return chosen.down()


def _held_by_others(uses: Uses) -> str:
    """The live uses of other processes, as a reader would name them ("" when there are none)."""
    return _some([u.line() for u in uses.live() if u.owner.pid != os.getpid()])


def _some(names: list[str], shown: int = 5) -> str:
    """The first few names, and how many more: what a one-line message has room for."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def died() -> str | None:
    """The one line that ends a run whose server died under it, if the lab's own server that this
    process uses (by a use of its own or its parent's) no longer runs; else None. Cheap: no connection,
    so a server slow to answer on a loaded machine never passes for a dead one."""
    chosen = current()
    named = os.environ.get(ENV_VAR)
    if not isinstance(chosen, Cluster) or not named or Path(named).parent != Uses(chosen.home).folder:
        return None
    state = chosen._load()
    if state is None:
        return None
    data_dir = Path(state.data_dir)
    pid = postmaster_pid(data_dir)
    if pid is not None and is_our_postmaster(pid, data_dir):
        return None
    return stopped_line(chosen)


def stopped_line(chosen: Cluster) -> str:
    """What to say when the lab's server stopped during a run: a full disk, or its log."""
    problem = space_problem(chosen)
    if problem:
        return f"the lab's PostgreSQL stopped during the run: {problem}; then labsupport up"
    log = chosen.log_file
    with contextlib.suppress(ValueError):
        log = log.relative_to(Path.cwd())
    return f"the lab's PostgreSQL stopped during the run: see {log}, then labsupport up"


def reap(url: str) -> list[str]:
    """Drop the databases, and remove the temporary folders, whose owner is gone; say so in one line
    on stdout (ordinary news: in a notebook, stderr is a red box that reads like an error).

    Every start of the lab comes here (``labsupport up`` and ``run``, a notebook's first cell,
    a test run that starts the server), so a killed run's leftovers last until the next start.
    """
    from .. import databases, owners
    from ..connection import run_sync

    gone = run_sync(databases.reap(url))
    folders = owners.reap_temp_dirs()
    say_reaped(gone, folders)
    return gone


def say_reaped(gone: list[str], folders: list[Path]) -> None:
    """The reaper's one line, only where no parent's use covers this process: on stdout in a notebook's
    kernel (ordinary news there: stderr is a red box that reads like an error), on stderr elsewhere
    (a command's stdout may be what a script reads, as with ``labsupport url``).

    A covered process (a notebook's kernel under ``labsupport run`` or a test run, a nested
    pytest) runs inside a command that already reaped and said so at its start: its line would
    land in a notebook's cell or a suite's captured output, which lessons and tests read.
    """
    if not (gone or folders):
        return
    chosen = current()
    cover = Uses(chosen.home).covering() if isinstance(chosen, Cluster) else None
    if cover is not None and cover.owner.pid != os.getpid():
        return
    names = _some(gone)
    print(f"labsupport: removed what runs that are gone left behind: {len(gone)} database(s)"
          f"{' (' + names + ')' if gone else ''}, {len(folders)} temporary folder(s)",
          file=sys.stdout if "ipykernel" in sys.modules else sys.stderr)


def status() -> ServerInfo | None:
    """The server in use if it answers, else None (an external one that fails raises LabError)."""
    return current().status()


def reset(force: bool = False) -> ServerInfo:
    """Delete the lab's own cluster and make a new, empty one.

    Refuses, in one line, while another command uses the server, and while the cluster holds a
    database a person made (no lab owner mark), naming them, or when it does not start, so the lab
    cannot tell; ``force`` resets anyway.
    """
    chosen = current()
    uses = _uses(chosen)
    if uses is None or not isinstance(chosen, Cluster):
        return chosen.reset()  # an external server: refused there, in its own words
    with uses.locked():
        if not force:
            held = _held_by_others(uses)
            if held:
                raise LabError(f"the lab's server is in use by {held}: wait until they end, "
                               "or reset anyway with 'labsupport reset --force'")
            kept = _person_made(chosen)
            if kept:
                raise LabError(f"the lab's cluster holds database(s) a person made: {_some(kept)}; "
                               "copy what you need (pg_dump), "
                               "then 'labsupport reset --force' deletes them with the rest")
        uses.mark_stop(False)
        return chosen.reset()


def _person_made(chosen: Cluster) -> list[str]:
    """The databases a person made on the lab's cluster (started for the look if it is stopped, and
    stopped again afterwards)."""
    from .. import databases
    from ..connection import run_sync

    if not chosen.exists():
        return []  # no cluster yet: nothing anyone made, and no initdb only to look
    try:
        info, started = _start(chosen, False, None)
    except LabError as exc:
        raise LabError(f"the lab's cluster does not start ({exc}), so the lab cannot tell whether it holds "
                       "databases a person made: 'labsupport reset --force' deletes it anyway") from None
    try:
        return run_sync(databases.person_made(info.url))
    finally:
        if started:
            chosen.down()
