"""No secret where another local user can read it: a run on a TCP server (which has a password) writes
the password into no file, and what it writes is private; the server's log is private; a folder another
user made first under the cluster's name in /dev/shm is skipped, not used and not a reason to refuse."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsupport import urls
from labsupport.errors import LabError
from labsupport.server import Cluster
from labsupport.server.cluster import memory_ok
from labsupport.server.users import server_user


def _env(folder: Path, home: Path, **extra: str) -> dict[str, str]:
    """A subprocess environment of its own: HOME, IPython's and Jupyter's folders under ``folder``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAB_", "PYTEST_", "JUPYTER_")) and k not in ("FORCE_COLOR", "IPYTHONDIR")}
    for name, sub in (("HOME", "home"), ("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "jupyter/config"),
                      ("JUPYTER_RUNTIME_DIR", "jupyter/runtime")):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(folder / sub)
    return {**env, "LAB_HOME": str(home), **extra}


def _labsupport(*args: str, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labsupport", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter (0755), so only the modes of what the lab writes inside protect it."""
    path = Path(tempfile.mkdtemp(prefix="lab-secrets-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _someone_else() -> pwd.struct_passwd | None:
    """An unprivileged user who is neither us nor the server user, or None (not root, or none here)."""
    if os.geteuid() != 0:
        return None
    user = server_user()
    for name in ("nobody", "daemon", "bin"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid not in (0, user.uid if user else -1):
            return entry
    return None


def _readable_by(user: pwd.struct_passwd, path: Path) -> bool:
    result = subprocess.run(["cat", str(path)], user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/",
                            capture_output=True, check=False)
    return result.returncode == 0


def test_a_run_on_a_tcp_server_leaves_its_password_in_no_file_and_its_files_private(
        cluster: Cluster, open_folder: Path) -> None:
    env = _env(open_folder / "env", cluster.home)
    started = _labsupport("up", "--tcp", env=env)
    assert started.returncode == 0, started.stderr
    state = cluster._load()
    assert state is not None and state.tcp and len(state.password) >= 16
    out = open_folder / "out"

    result = _labsupport("run", "00", "--out", str(out), env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 notebooks passed" in result.stdout
    assert state.password not in result.stdout + result.stderr
    written = sorted(p for p in out.rglob("*") if p.is_file())
    names = {p.relative_to(out).as_posix() for p in written}
    assert {"index.html", "notebooks/00_start_here.ipynb", "notebooks/00_start_here.html"} <= names, names
    for path in written:
        assert state.password.encode() not in path.read_bytes(), f"the password is in {path}"
    executed = json.loads((out / "notebooks" / "00_start_here.ipynb").read_text(encoding="utf-8"))
    shown = executed["metadata"]["papermill"]["parameters"]["database_url"]
    assert urls.is_redacted(shown) and f":{urls.REDACTED}@127.0.0.1:{state.port}/" in shown
    folder_mode = stat.S_IMODE(os.stat(out / "notebooks").st_mode)
    assert folder_mode == 0o700, oct(folder_mode)
    modes = {p.relative_to(out).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o600"}, modes
    someone = _someone_else()
    if someone is not None:  # as root: check it as another user would, not only by the modes
        assert [p for p in written if _readable_by(someone, p)] == []


def test_the_server_log_is_private_even_when_an_earlier_one_was_not(cluster: Cluster) -> None:
    cluster.home.mkdir(parents=True)
    cluster.log_file.write_text("a log from an earlier start\n")
    os.chmod(cluster.log_file, 0o644)

    cluster.up()

    assert stat.S_IMODE(os.stat(cluster.log_file).st_mode) == 0o600
    assert cluster.log_file.read_text().startswith("a log from an earlier start\n")  # appended to, not replaced
    someone = _someone_else()
    if someone is not None:
        assert not _readable_by(someone, cluster.log_file)


@pytest.mark.parametrize("squat", ["another user's folder", "a folder open to every user"])
def test_a_squatted_cluster_folder_in_dev_shm_is_skipped_for_a_fresh_name(cluster: Cluster, squat: str) -> None:
    placement = memory_ok()
    if not placement.in_memory:
        pytest.skip(f"{placement.why}, so the cluster's files would not go there")
    someone = _someone_else()
    if squat == "another user's folder" and someone is None:
        pytest.skip("needs root and another unprivileged user, to make a folder as them")
    squatted = cluster._outside_candidates()[0]
    squatted.mkdir()
    try:
        if squat == "another user's folder":
            assert someone is not None
            os.chown(squatted, someone.pw_uid, someone.pw_gid)
            os.chmod(squatted, 0o755)
        else:
            os.chmod(squatted, 0o777)
        before = os.lstat(squatted)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
        env |= {"LAB_HOME": str(cluster.home), "LAB_DATA_IN_MEMORY": "1"}

        result = _labsupport("up", env=env, timeout=120)

        assert result.returncode == 0, result.stderr
        assert result.stderr.strip().count("\n") == 0 and str(squatted) in result.stderr, result.stderr
        info = cluster.running()
        assert info is not None and info.data_dir
        used = Path(info.data_dir).parent
        assert used != squatted and used.parent == squatted.parent and used.name.startswith(squatted.name + "-")
        assert str(used) in result.stderr
        assert os.lstat(used).st_uid == os.geteuid()
        after = os.lstat(squatted)
        assert list(squatted.iterdir()) == []  # nothing of ours went into it
        assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode)
        cluster.destroy()
        assert not used.exists()  # the fresh folder is the lab's own: destroy removes it
        assert squatted.is_dir()  # the squatter's is not
    finally:
        shutil.rmtree(squatted, ignore_errors=True)


def test_a_redacted_url_is_revealed_only_from_the_url_it_stands_for() -> None:
    real = "postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:5999/postgres"
    shown = urls.redact(real)
    assert "s3cret-pw" not in shown and urls.is_redacted(shown)
    assert urls.reveal(shown, environ={urls.SECRET_ENV: real}) == real
    assert urls.reveal(real, environ={}) == real  # a URL with its password is used as it is
    for environ in ({}, {urls.SECRET_ENV: real.replace("5999", "6000")}, {urls.SECRET_ENV: shown}):
        with pytest.raises(LabError, match="hides its password"):
            urls.reveal(shown, environ=environ)


def test_the_kernel_gets_the_real_url_while_the_executed_notebook_shows_it_redacted(tmp_path: Path) -> None:
    import nbformat

    from labsupport.teaching import notebooks

    real = "postgresql+asyncpg://postgres:kernel-only-pw-4f1c@127.0.0.1:5999/postgres"
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell("database_url = None", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from labsupport import urls\n"
                                          "real = urls.reveal(database_url)\n"
                                          "print('shown', database_url)\n"
                                          "print('revealed', real == urls.reveal(database_url) and 'kernel-only' in real)")]
    source = tmp_path / "99_probe.ipynb"
    nbformat.write(nb, source)

    result = notebooks.execute(source, tmp_path / "out", {"database_url": real})

    assert result.ok, result.error
    written = result.output.read_text(encoding="utf-8")
    assert "kernel-only-pw-4f1c" not in written
    assert f"shown {urls.redact(real)}" in written and "revealed True" in written
    assert stat.S_IMODE(result.output.stat().st_mode) == 0o600


def test_a_server_info_shown_in_a_cell_hides_its_password() -> None:
    from labsupport.server import ServerInfo

    info = ServerInfo(source="test", url="postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:5432/postgres", managed=True)
    assert "s3cret-pw" not in repr(info)
    assert info.url.endswith("@127.0.0.1:5432/postgres")
