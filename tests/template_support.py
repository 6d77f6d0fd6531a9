"""Running a tests/apps/ project in a subprocess for the template's tests: a copy of it, its own
folders and database prefix, and what the run left on the server."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from labsupport import databases, urls
from labsupport.connection import connect, run_sync
from labsupport.teaching import lesson

APPS = Path(__file__).parent / "apps"


def copy_app(app: str, tmp_path: Path) -> Path:
    """A copy of ``tests/apps/<app>`` to edit: a test never edits the repository."""
    return Path(shutil.copytree(APPS / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__")))


def new_prefix(tag: str) -> str:
    return f"t1{tag}_{secrets.token_hex(3)}"


def env_for(server_url: str, prefix: str, tmp_path: Path, app_url: str | None = None) -> dict[str, str]:
    """The run's server and prefix, the app's URL (a database that does not exist), its own HOME and TMPDIR."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    missing = urls.with_database(server_url, f"{prefix}_nothere")
    return {"LAB_SERVER_URL": server_url, "LAB_DB_PREFIX": prefix, "SHOP_DATABASE_URL": app_url or missing,
            "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "TMPDIR": str(tmp)}


def run(folder: Path, env: dict[str, str], *args: str) -> lesson.SuiteResult:
    return lesson.run_suite(folder, "-v", "-p", "no:randomly", "-W", "ignore::pytest.PytestRemovedIn10Warning", *args,
                            env=env, scenarios=False)


def comments_under(server_url: str, prefix: str) -> dict[str, str]:
    """Every database named ``<prefix>_...`` on the server, with its comment ('' if none)."""
    async def read() -> dict[str, str]:
        conn = await connect(server_url)
        try:
            rows = await conn.fetch("SELECT datname, shobj_description(oid, 'pg_database') AS c FROM pg_database "
                                    "WHERE datname LIKE $1", databases.like_prefix(prefix))
            return {r["datname"]: r["c"] or "" for r in rows}
        finally:
            await conn.close()

    return run_sync(read())


def drop_prefix(server_url: str, prefix: str) -> None:
    """What a test's runs kept under its own prefix (kept templates) goes with the test."""
    run_sync(databases.drop_under(server_url, prefix))


def header_value(output: str, start: str) -> str:
    """The rest of the first output line that starts with ``start``."""
    for line in output.splitlines():
        if line.startswith(start):
            return line[len(start):]
    raise AssertionError(f"no line starts with {start!r} in:\n{output[-3000:]}")
