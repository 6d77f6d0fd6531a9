"""An existing server named by ``LAB_DATABASE_URL``: used as is, never started, stopped or recreated."""

from __future__ import annotations

from .. import urls
from ..connection import connect, run_sync
from ..errors import LabError
from .base import ServerInfo

__all__ = ["External", "EXTERNAL"]

EXTERNAL = "LAB_DATABASE_URL (an existing server; the lab never starts or stops it)"


class External:
    """The ``Server`` interface over a URL: ``up`` and ``status`` only check that it answers."""

    managed = False

    def __init__(self, url: str) -> None:
        self.url = urls.parse(url).render_as_string(hide_password=False)

    def source(self) -> str:
        return EXTERNAL

    def status(self) -> ServerInfo:
        """The server's info with its version; a server that does not answer raises LabError."""

        async def probe() -> str:
            conn = await connect(self.url, what="LAB_DATABASE_URL")
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        return ServerInfo(source=EXTERNAL, url=self.url, managed=False, version=run_sync(probe()).split()[0])

    def up(self, tcp: bool = False, port: int | None = None) -> tuple[ServerInfo, bool]:
        return self.status(), False

    def down(self) -> bool:
        return False

    def reset(self) -> ServerInfo:
        raise LabError("LAB_DATABASE_URL names an existing server, which the lab never recreates: "
                       "unset it to reset the lab's own")

    def destroy(self) -> None:
        return None
