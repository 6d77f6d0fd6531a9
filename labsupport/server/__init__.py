"""The launcher room: the lab's PostgreSQL, its own cluster or an existing server, behind one interface.

``current()`` is the one place that decides which server is in use: ``LAB_DATABASE_URL`` (read
by ``labsupport.settings``) names an existing server (``External``), else the lab's own cluster
in the state folder (``Cluster``). Both have the ``Server`` interface (``base``): ``up``, ``down``,
``status``, ``reset``, ``destroy``, ``source``. The module functions below ask ``current()``.

Modules: ``base`` (ServerInfo, the interface), ``cluster`` (initdb, postgres, state),
``external``, ``binaries`` (which PostgreSQL), ``processes`` (pid and port checks), ``users``
(who runs postgres as root), ``paths`` (folders in shared places).

The pytest plugin imports this package only inside the hooks and fixtures that start a server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..settings import settings
from .base import Server, ServerInfo
from .cluster import Cluster
from .external import EXTERNAL, External

__all__ = ["ServerInfo", "Server", "Cluster", "External", "EXTERNAL", "current", "up", "down", "status",
           "reset", "ensure", "reap"]


def current() -> Cluster | External:
    """The server in use, decided here and nowhere else: LAB_DATABASE_URL's, else the lab's own."""
    cfg = settings()
    if cfg.external_url:
        return External(cfg.external_url)
    return Cluster(cfg.home, cfg.home_from)


def up(tcp: bool = False, port: int | None = None) -> tuple[ServerInfo, bool]:
    """The server to use, started if needed, cleared of what killed runs left. Returns (info, started_now)."""
    info, started = current().up(tcp=tcp, port=port)
    reap(info.url)
    return info, started


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
    if gone or folders:
        names = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        print(f"labsupport: removed what runs that are gone left behind: {len(gone)} database(s)"
              f"{' (' + names + ')' if gone else ''}, {len(folders)} temporary folder(s)")
    return gone


def down() -> bool:
    """Stop the lab's own server if it runs (an external one is never stopped)."""
    return current().down()


def status() -> ServerInfo | None:
    """The server in use if it answers, else None (an external one that fails raises LabError)."""
    return current().status()


def reset() -> ServerInfo:
    return current().reset()


@contextlib.contextmanager
def ensure(tcp: bool = False) -> Iterator[ServerInfo]:
    """A running server for the duration; stopped afterwards only if this call started it."""
    info, started = up(tcp=tcp)
    try:
        yield info
    finally:
        if started:
            down()
