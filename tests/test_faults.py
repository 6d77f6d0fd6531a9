"""Faults, for real: a run interrupted with Ctrl-C in the middle of a notebook, a server killed
with SIGKILL in the middle of a run, and two clones of the lab running side by side.

Each keeps the same promise: a developer's database (made by hand, so not the lab's) keeps every
row, and whatever a dead run left is removed by the next start of the lab, which says so.
Marked ``slow`` (``make test-slow``; CI runs it): each test runs a notebook or two suites.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from throwaway_support import kernels_of, lab_env, started_a_kernel, wait_for

from labsupport import databases, owners, urls
from labsupport.connection import fetchval, run_sync
from labsupport.server import Cluster
from labsupport.teaching import lesson

pytestmark = pytest.mark.slow

sys.path.insert(0, str(lesson.SCENARIOS))
from lesson01 import support as dev_data  # noqa: E402  - seeding and checksums of the demo app's data

LABSUPPORT = [sys.executable, "-m", "labsupport"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "FORCE_COLOR", "LAB_OWNER"))}
    return env | extra


def _seed_dev_database(admin_url: str) -> tuple[str, dev_data.Snapshot]:
    """A seeded developer database, made by hand (without the lab's owner mark): the lab must never drop it."""
    name = f"flashcards_dev_{secrets.token_hex(3)}"
    run_sync(fetchval(admin_url, f"CREATE DATABASE {name}"))
    url = urls.with_database(admin_url, name)
    run_sync(dev_data.seed(url))
    return url, run_sync(dev_data.snapshot(url))


@pytest.fixture
def dev_database(lab_server) -> Iterator[tuple[str, dev_data.Snapshot]]:
    url, snapshot = _seed_dev_database(lab_server.url)
    yield url, snapshot
    name = databases.quote(str(urls.parse(url).database))  # made by hand, so removed by hand: the lab refuses to
    run_sync(fetchval(lab_server.url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _wait_for_database(admin_url: str, like: str, proc: subprocess.Popen[str], seconds: float = 240) -> str:
    """The first database like ``like`` that carries the lab's owner mark (made and marked: a run killed in
    the millisecond between the two leaves an unmarked database, which the lab never drops)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        found = run_sync(fetchval(admin_url, "SELECT min(datname) FROM pg_database WHERE datname LIKE $1 "
                                             "AND shobj_description(oid, 'pg_database') LIKE $2", like, owners.MARK + "%"))
        if found:
            return str(found)
        time.sleep(0.2)
    raise AssertionError(f"no marked database like {like!r} appeared while the run lasted: {proc.poll()=}")


def _owner_of(admin_url: str, name: str) -> owners.Owner:
    comment = run_sync(fetchval(admin_url, "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                           "WHERE datname = $1", name))
    owner = owners.parse(comment)
    assert owner is not None, comment
    return owner


def _wait_until_gone(owner: owners.Owner, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not owner.is_gone():
        assert time.monotonic() < deadline, f"the run's kernel (pid {owner.pid}) still runs {seconds:g} s after the run ended"
        time.sleep(0.2)


def _run_in_background(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal's foreground job


# ---------------------------------------------------------------- Ctrl-C in the middle of a notebook


def test_ctrl_c_mid_notebook_keeps_dev_data_and_the_next_run_passes(lab_server, dev_database) -> None:
    dev_url, before = dev_database
    env = _env(FLASHCARDS_DATABASE_URL=dev_url, DATABASE_URL=dev_url, TEST_DATABASE_URL=dev_url,
               LAB_TEST_DATABASE_URL=dev_url)  # the developer's URL everywhere an app or a test might look
    run = _run_in_background([*LABSUPPORT, "run", "02"], env)
    _wait_for_database(lab_server.url, r"lab02\_%", run)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends to the whole job
    _, err = run.communicate(timeout=120)

    assert run.returncode != 0 and "interrupted" in err, err
    assert run_sync(dev_data.snapshot(dev_url)) == before
    again = subprocess.run([*LABSUPPORT, "run", "00"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert run_sync(databases.names(lab_server.url, r"lab02\_%")) == []
    assert run_sync(dev_data.snapshot(dev_url)) == before


# ---------------------------------------------------------------- the server killed mid-run


@pytest.fixture
def own_cluster(cluster: Cluster) -> Cluster:
    """A second lab, as in another clone: its own state folder and server (destroyed afterwards)."""
    cluster.up()
    return cluster


def test_server_killed_mid_run_keeps_dev_data_and_the_next_start_reaps(own_cluster: Cluster) -> None:
    info = own_cluster.running()
    assert info is not None, "own_cluster is up"
    admin_url = info.url
    dev_url, before = _seed_dev_database(admin_url)
    env = _env(LAB_HOME=str(own_cluster.home), FLASHCARDS_DATABASE_URL=dev_url, DATABASE_URL=dev_url)
    env.pop("LAB_DATABASE_URL", None)

    run = _run_in_background([*LABSUPPORT, "run", "02"], env)
    kernel = _owner_of(admin_url, _wait_for_database(admin_url, r"lab02\_%", run))
    info = own_cluster.running()
    assert info is not None and info.pid
    os.kill(info.pid, signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode != 0, out + err
    _wait_until_gone(kernel)  # the notebook's kernel may outlive `labsupport run` by a moment: a live owner is never reaped

    up = subprocess.run([*LABSUPPORT, "up"], env=env, capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    restarted = own_cluster.running()
    assert restarted is not None
    said = [line for line in up.stderr.splitlines() if "left behind" in line]  # a command's news: stderr
    assert len(said) == 1 and "lab02_" in said[0], (up.stdout + up.stderr, run_sync(fetchval(
        restarted.url, "SELECT string_agg(datname || ': ' || coalesce(shobj_description(oid, 'pg_database'), '-'), '; ') "
                       "FROM pg_database WHERE datname LIKE 'lab02%'")))
    assert run_sync(databases.names(restarted.url, r"lab02\_%")) == []
    assert run_sync(dev_data.snapshot(dev_url)) == before
    again = subprocess.run([*LABSUPPORT, "run", "00"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr


# ---------------------------------------------------------------- two clones side by side


def test_two_labs_at_once_never_touch_each_other(own_cluster: Cluster, lab_server) -> None:
    ours = own_cluster.running()
    assert ours is not None
    fixed = lesson.SCENARIOS / "lesson04" / "fixed"
    runs = {}
    for label, url in (("a", ours.url), ("b", lab_server.url)):
        prefix = f"ttwo{label}_{secrets.token_hex(2)}"
        cmd = lesson.pytest_command(fixed, "-n", "2", "--lab-db-prefix", prefix)
        runs[label] = (prefix, url, subprocess.Popen(cmd, cwd=fixed, env=lesson.clean_env({"LAB_SERVER_URL": url}),
                                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    crossed, samples = [], 0
    while any(p.poll() is None for _, _, p in runs.values()):
        for label, (_, url, _) in runs.items():
            other_prefix = next(pre for lab, (pre, _, _) in runs.items() if lab != label)
            seen = run_sync(databases.names(url, databases.like_prefix(other_prefix)))
            crossed += seen
        samples += 1
        time.sleep(0.1)
    outputs = {label: p.communicate()[0] for label, (_, _, p) in runs.items()}

    assert all(p.returncode == 0 for _, _, p in runs.values()), outputs
    assert samples > 5 and crossed == [], (samples, crossed)
    for prefix, url, _ in runs.values():
        assert run_sync(databases.names_under(url, prefix)) == []  # each cleaned up after itself


# ---------------------------------------------------------------- SIGTERM, a dead server, a full disk, temporary folders


def _lab_temp_entries(tmp_path) -> list[str]:
    """What the lab leaves in the temporary and Jupyter runtime folders: its temp folders, kernel files."""
    found = [p.name for p in (tmp_path / "tmp").glob(owners.TEMP_PREFIX + "*")]
    return found + [p.name for p in (tmp_path / "runtime").glob("kernel-*.json")]


def test_sigterm_mid_run_cleans_up_like_ctrl_c_and_exits_143_with_one_line(cluster: Cluster, tmp_path) -> None:
    env = lab_env(cluster, tmp_path)
    run = subprocess.Popen([*LABSUPPORT, "run", "00", "--out", str(tmp_path / "out")], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: started_a_kernel(run.pid) or run.poll() is not None, "the run's kernel start")
    run.send_signal(signal.SIGTERM)  # to the command alone, as a service manager or `kill` sends it
    _, err = run.communicate(timeout=180)

    assert run.returncode == 143, err
    assert err.splitlines() == ["labsupport: terminated (SIGTERM): cleaned up what this command started"], err
    assert cluster.running() is None  # the run started the server: it stopped it
    assert _lab_temp_entries(tmp_path) == []
    assert [p.name for p in (tmp_path / "out" / "notebooks").glob("*.ipynb") if p.stat().st_size == 0] == []
    info, _ = cluster.up()  # no reaping here: only what the run itself removed counts
    assert run_sync(databases.names(info.url, r"lab00\_%")) == []


def _kernels_under(pid: int) -> list[owners.Process]:
    """The notebook kernels that ``pid``'s child processes started (``run -j N``'s workers' kernels)."""
    return kernels_of({p.pid for p in owners.processes() if p.ppid == pid})


def test_sigterm_mid_parallel_run_stops_the_running_notebooks_then_cleans_up(cluster: Cluster, tmp_path) -> None:
    """With ``-j 2`` the notebooks run in worker processes: SIGTERM stops them where they are (it does
    not wait for them to end), then the same clean-up and the same one line as a sequential run."""
    env = lab_env(cluster, tmp_path)
    out = tmp_path / "out"
    run = subprocess.Popen([*LABSUPPORT, "run", "03", "04", "-j", "2", "--out", str(out)], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: len(_kernels_under(run.pid)) == 2 or run.poll() is not None, "both notebooks' kernels")
    kernels = _kernels_under(run.pid)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=180)

    assert run.returncode == 143, err
    assert err.splitlines() == ["labsupport: terminated (SIGTERM): cleaned up what this command started"], err
    assert [k.pid for k in kernels if k.still_runs()] == []
    for executed in (out / "notebooks").glob("0[34]_*.ipynb"):  # stopped part-way: no copy, or cells left unrun
        cells = json.loads(executed.read_text())["cells"]  # never an empty file
        assert any(c["cell_type"] == "code" and c["execution_count"] is None for c in cells), executed
    assert cluster.running() is None
    assert _lab_temp_entries(tmp_path) == []
    info, _ = cluster.up()
    assert run_sync(databases.names(info.url, r"lab03\_%")) == run_sync(databases.names(info.url, r"lab04\_%")) == []


_KILLS_THE_SERVER = '''
    import os, signal

    import pytest

    from labsupport.connection import fetchval, run_sync


    def test_kills_the_server(lab_server):
        os.kill(lab_server.pid, signal.SIGKILL)


    @pytest.mark.parametrize("n", range(20))
    def test_uses_the_server(lab_server, n):
        assert run_sync(fetchval(lab_server.url, "SELECT 1")) == 1
'''


def test_a_test_run_whose_server_dies_ends_with_one_line(cluster: Cluster, tmp_path) -> None:
    import textwrap

    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nlab_start_server = true\n")
    (suite / "test_dies.py").write_text(textwrap.dedent(_KILLS_THE_SERVER))
    env = lab_env(cluster, tmp_path)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q", "-rfE",
                           str(suite)], env=env, cwd=suite, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr

    said = [line for line in out.splitlines() if line.startswith("labsupport: the lab's PostgreSQL stopped during the run")]
    assert done.returncode == 1, out
    assert len(said) == 1 and "postgres.log, then labsupport up" in said[0], out
    assert "Traceback" not in out and len(out.splitlines()) < 30, out  # not 20 connection tracebacks
    assert "1 passed" in out and "1 failed" in out, out  # the run stopped at the first failure it explained


def test_labsupport_run_whose_server_dies_ends_with_one_line(cluster: Cluster, tmp_path) -> None:
    env = lab_env(cluster, tmp_path)
    run = subprocess.Popen([*LABSUPPORT, "run", "00", "--out", str(tmp_path / "out")], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: started_a_kernel(run.pid) or run.poll() is not None, "the run's kernel start")
    info = cluster.running()
    assert info is not None and info.pid
    os.kill(info.pid, signal.SIGKILL)
    out, err = run.communicate(timeout=300)

    assert run.returncode == 1, out + err
    assert err.splitlines() == [f"labsupport: the lab's PostgreSQL stopped during the run: see {cluster.log_file}, "
                                "then labsupport up"], err


@pytest.fixture
def small_disk(cluster_home):
    """A 60 MiB file system for the lab's state folder (a tmpfs; mounting one needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    cluster_home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m,mode=0755", "tmpfs", str(cluster_home)], check=True)
    try:
        yield cluster_home
    finally:
        Cluster(cluster_home / "state").destroy()
        subprocess.run(["umount", "-l", str(cluster_home)], check=False)


def _fill(folder, leave: int) -> None:
    stats = os.statvfs(folder)
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.posix_fallocate(fd, 0, stats.f_bavail * stats.f_frsize - leave)
    finally:
        os.close(fd)


def test_a_nearly_full_disk_is_named_by_up_run_and_status(small_disk, tmp_path) -> None:
    lab = Cluster(small_disk / "state")
    env = lab_env(lab, tmp_path) | {"LAB_DATA_IN_MEMORY": "0"}

    def labsupport(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LABSUPPORT, *args], env=env, capture_output=True, text=True, timeout=300)

    assert labsupport("up").returncode == 0
    _fill(small_disk, leave=4 << 20)
    named = f"no space left on device in {lab.home}"

    status = labsupport("status")
    assert status.returncode == 0 and named in status.stdout, status
    run = labsupport("run", "00", "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and named in run.stderr, run
    assert labsupport("down").returncode == 0
    up = labsupport("up")
    assert up.returncode == 2 and up.stderr.count("\n") == 1 and named in up.stderr, up
    status = labsupport("status")
    assert status.returncode == 3 and named in status.stdout, status


def test_lesson01_runner_leaves_no_temporary_folder(tmp_path) -> None:
    env = _env(TMPDIR=str(tmp_path), PYTHONPATH=str(lesson.SCENARIOS))
    code = "from lesson01 import support; r = support.Runner(env={}); print(r.report.parent, flush=True)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []

    killed = subprocess.Popen([sys.executable, "-c", code + "; import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
                              env=env, stdout=subprocess.PIPE, text=True)
    folder = killed.communicate(timeout=120)[0].strip()
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(folder)]  # a killed kernel's stays ...
    assert [str(p) for p in owners.reap_temp_dirs(tmp_path)] == [folder]  # ... until the next start reaps it
    assert list(tmp_path.iterdir()) == []


def test_lesson01_dev_database_keeps_what_a_commit_acknowledged(cluster: Cluster) -> None:
    info, _ = cluster.up()
    for name in ("keep_dev", "throwaway_test"):
        run_sync(databases.create(info.url, name))
    dev_url, other_url = urls.with_database(info.url, "keep_dev"), urls.with_database(info.url, "throwaway_test")
    run_sync(dev_data.keep_commits(dev_url))
    assert run_sync(fetchval(dev_url, "SHOW synchronous_commit")) == "on"
    assert run_sync(fetchval(other_url, "SHOW synchronous_commit")) == "off"  # the lab's own stay fast

    async def insert(url: str, rows: int) -> None:
        from labsupport.connection import connect

        conn = await connect(url)
        try:
            await conn.execute("CREATE TABLE kept (n int)")
            for n in range(rows):  # one commit each, as an app writes
                await conn.execute("INSERT INTO kept VALUES ($1)", n)
        finally:
            await conn.close()

    run_sync(insert(dev_url, 3000))
    assert info.pid is not None, "the lab's own server has a postmaster pid"
    os.killpg(info.pid, signal.SIGKILL)  # the postmaster and every backend at once: nothing gets to flush
    again, _ = cluster.up()
    assert run_sync(fetchval(urls.with_database(again.url, "keep_dev"), "SELECT count(*) FROM kept")) == 3000
