"""Where the plugin's server comes from, in real pytest runs of a project outside the lab's checkout.

Without ``LAB_SERVER_URL`` and without ``lab_start_server`` the plugin starts nothing and says in
one line what to set; with ``lab_start_server = true`` it starts the lab's PostgreSQL in a state
folder of this user's (``$XDG_STATE_HOME/isolation-lab/...``, never the project's folder), and at
the end of the run the server is stopped and its files (the data folder, also in /dev/shm, and the
state folder) are gone; a run the guard refuses starts nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labsupport import databases, urls
from labsupport.connection import connect, run_sync
from labsupport.pytest_plugin.server_fixture import NO_SERVER

INI = """
[pytest]
addopts = -p no:cacheprovider -p no:randomly
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
pythonpath = .
lab_metadata = tables:metadata
"""
TABLES = "from sqlalchemy import MetaData\n\nmetadata = MetaData()\n"
RECORDS = """
import json
import os
from pathlib import Path

from labsupport import server


async def test_it(lab_connection):
    info = server.status()
    Path(os.environ["SEEN_AT"]).write_text(json.dumps({"home": os.environ.get("LAB_HOME"),
                                                       "data": info.data_dir, "pid": info.pid}))
    assert await lab_connection.exec_driver_sql("SELECT 1")
"""


def _project(folder: Path, ini: str = "") -> Path:
    project = folder / "shop"
    project.mkdir()
    (project / "pytest.ini").write_text(INI.lstrip() + textwrap.dedent(ini).lstrip(), encoding="utf-8")
    (project / "tables.py").write_text(TABLES, encoding="utf-8")
    (project / "test_it.py").write_text(textwrap.dedent(RECORDS).lstrip(), encoding="utf-8")
    return project


_NOT_HANDED_DOWN = ("LAB_HOME", "LAB_SERVER_URL", "LAB_DATABASE_URL", "LAB_SERVER_USE", "LAB_TEST_DATABASE_URL")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A user of its own: HOME and XDG_STATE_HOME in tmp_path, and nothing of this run's server
    (no LAB_HOME, no server URL, no use of this run's server to be covered by)."""
    env = {k: v for k, v in os.environ.items()
           if k not in _NOT_HANDED_DOWN and not k.startswith(("PYTEST_", "FORCE_COLOR"))}
    return {**env, "HOME": str(tmp_path / "home"), "XDG_STATE_HOME": str(tmp_path / "state"),
            "IPYTHONDIR": str(tmp_path / "ipython"), "TMPDIR": str(tmp_path), "SEEN_AT": str(tmp_path / "seen.json"),
            "LAB_DB_PREFIX": f"t2s_{secrets.token_hex(3)}", **extra}


@dataclass
class Run:
    returncode: int
    output: str


def _run(project: Path, env: dict[str, str], *args: str) -> Run:
    """pytest in the project's folder with exactly ``env`` (lesson.run_suite would hand this run's server down)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    return Run(proc.returncode, proc.stdout + proc.stderr)


def _gone(pid: int, within: float = 10.0) -> bool:
    """True once the process has ended (a zombie waiting for its parent counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


def test_without_a_server_setting_the_plugin_starts_nothing_and_says_what_to_set(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = _run(project, _env(tmp_path), "-n", "0")
    assert result.returncode == 4 and "passed" not in result.output, result.output[-2000:]
    assert f"labsupport workers: {NO_SERVER}" in result.output
    assert not (tmp_path / "state" / "isolation-lab").exists() and not (project / ".lab").exists()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_lab_start_server_starts_one_in_a_folder_of_the_user_s_and_removes_it(tmp_path: Path, workers: str) -> None:
    project = _project(tmp_path, "lab_start_server = true\n")
    result = _run(project, _env(tmp_path), "-n", workers)
    assert result.returncode == 0 and "1 passed" in result.output, result.output[-3000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    home = Path(seen["home"])
    assert home.parent == tmp_path / "state" / "isolation-lab" and home.name.startswith("shop-"), seen
    assert _gone(seen["pid"]), f"the server the run started still runs: {seen}"
    assert not home.exists() and not Path(seen["data"]).exists(), seen
    assert not (project / ".lab").exists()


@pytest.fixture
def seeded(lab_server) -> Iterator[str]:
    """A developer's database on the lab's server, not named *_test, with a row; dropped afterwards."""
    name = f"t2dev_{secrets.token_hex(3)}"

    async def seed() -> None:
        await databases.create(lab_server.url, name, replace=True)
        conn = await connect(urls.with_database(lab_server.url, name))
        try:
            await conn.execute("CREATE TABLE kept (id int)")
            await conn.execute("INSERT INTO kept VALUES (1)")
        finally:
            await conn.close()

    run_sync(seed())
    yield urls.with_database(lab_server.url, name)
    run_sync(databases.drop(lab_server.url, name))


def test_a_run_the_guard_refuses_starts_no_server(tmp_path: Path, seeded: str) -> None:
    project = _project(tmp_path, "lab_start_server = true\nlab_guard_url = env:SHOP_DATABASE_URL\n")
    result = _run(project, _env(tmp_path, SHOP_DATABASE_URL=seeded), "-n", "0")
    assert result.returncode == 4 and "passed" not in result.output, result.output[-2000:]
    assert "according to the server, and that is not a test database" in result.output
    assert not (tmp_path / "state" / "isolation-lab").exists() and not (project / ".lab").exists()
