"""The one interface of "the server in use": the lab's own cluster or an external server.

``labsupport.server.current()`` decides once which of the two it is (``LAB_DATABASE_URL`` set
or not); everything else asks the object it returns and never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .. import urls

__all__ = ["ServerInfo", "Server", "SUPERUSER"]

SUPERUSER = "postgres"


@dataclass(frozen=True)
class ServerInfo:
    """What a lesson needs to know about the server in use."""

    source: str
    url: str = field(repr=False)  # superuser, database "postgres", SQLAlchemy asyncpg form; may hold a password
    managed: bool
    version: str | None = None
    pid: int | None = None
    data_dir: str | None = None
    socket_dir: str | None = None
    port: int | None = None
    tcp: bool = False

    def url_for(self, database: str) -> str:
        return urls.with_database(self.url, database)

class Server(Protocol):
    """What the CLI, the plugin and the lessons may ask of a server, whichever it is."""

    managed: bool  # True for the lab's own cluster: it may be started, stopped and recreated

    def source(self) -> str:
        """Where the server comes from, e.g. the wheel's binaries or LAB_DATABASE_URL."""

    def up(self, tcp: bool = False, port: int | None = None) -> tuple[ServerInfo, bool]:
        """The server, started if needed: (info, started_now)."""

    def down(self) -> bool:
        """Stop it if the lab may and it runs; True when something was stopped."""

    def status(self) -> ServerInfo | None:
        """The server if it answers, else None."""

    def reset(self) -> ServerInfo:
        """Recreate it empty (the lab's own only)."""

    def destroy(self) -> None:
        """Stop and delete it (the lab's own only; nothing for an external server)."""
