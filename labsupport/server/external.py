"""An existing server named by ``LAB_DATABASE_URL``: used as is, never started, stopped or recreated."""

from __future__ import annotations

from .. import urls
from ..connection import connect, run_sync
from ..errors import LabError
from .base import ServerInfo

__all__ = ["External", "EXTERNAL", "not_superuser"]

EXTERNAL = "LAB_DATABASE_URL (an existing server; the lab never starts or stops it)"


def not_superuser(user: str, where: str) -> str:
    """Why a URL naming an ordinary role will not do, and what to do: the lab creates, clones and drops
    databases and ends other sessions, which needs a superuser (a remedy that works on any server)."""
    quoted = '"' + user.replace('"', '""') + '"'
    return (f"LAB_DATABASE_URL logs in as {user!r}, which is not a superuser on {where}: the lab creates and "
            f"drops databases, so give LAB_DATABASE_URL a superuser's URL, or have a superuser run "
            f"ALTER ROLE {quoted} SUPERUSER")


class External:
    """The ``Server`` interface over a URL: ``up`` and ``status`` only check that it answers."""

    managed = False

    def __init__(self, url: str) -> None:
        self.url = urls.parse(url).render_as_string(hide_password=False)

    def source(self) -> str:
        return EXTERNAL

    def status(self) -> ServerInfo:
        """The server's info with its version; a server that does not answer raises LabError."""

        async def probe() -> tuple[str, str, bool]:
            conn = await connect(self.url, what="LAB_DATABASE_URL")
            try:
                row = await conn.fetchrow(
                    "SELECT current_setting('server_version') AS version, current_user AS name, "
                    "current_setting('is_superuser') = 'on' AS superuser")
                return str(row["version"]), str(row["name"]), bool(row["superuser"])
            finally:
                await conn.close()

        version, user, superuser = run_sync(probe())
        if not superuser:
            raise LabError(not_superuser(user, urls.describe(self.url)))
        return ServerInfo(source=EXTERNAL, url=self.url, managed=False, version=version.split()[0])

    def up(self, tcp: bool = False, port: int | None = None) -> tuple[ServerInfo, bool]:
        return self.status(), False

    def down(self) -> bool:
        return False

    def reset(self) -> ServerInfo:
        raise LabError("LAB_DATABASE_URL names an existing server, which the lab never recreates: "
                       "unset it to reset the lab's own")

    def destroy(self) -> None:
        return None
