"""One server, shared: every command, test run and notebook that needs the lab's server holds a use
of it, the last one to end stops it (if a use started it), and ``labsupport down`` refuses while a
live use holds it. Each test runs in a throwaway lab of its own (``LAB_HOME``), with its own HOME,
IPython folder, Jupyter runtime folder and temporary folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from throwaway_support import lab_env, started_a_kernel, wait_for

from labsupport.server import Cluster

LABSUPPORT = [sys.executable, "-m", "labsupport"]
def _start(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _holder(env: dict[str, str], tmp_path: Path) -> subprocess.Popen[str]:
    """A process that holds a use of the lab's server until it is killed (it says 'held' once it does)."""
    code = "from labsupport import server; server.acquire(command='holder for a test'); print('held', flush=True); " \
           "import time; time.sleep(600)"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


_USE_AND_END = "from labsupport import server; l = server.acquire(); print(server.release(l))"  # True: its end stopped it
_KEEP_AND_END = "from labsupport import server; l = server.acquire(keep=True); print(l.started, server.release(l))"


def _python(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def _labsupport(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABSUPPORT, *args], env=env, capture_output=True, text=True, timeout=180)


# ---------------------------------------------------------------- labsupport down and the uses that hold it


def test_down_refuses_while_a_use_holds_the_server_names_it_and_force_stops_it(cluster: Cluster, tmp_path: Path) -> None:
    env = lab_env(cluster, tmp_path)
    holder = _holder(env, tmp_path)
    try:
        assert cluster.running() is not None  # the use started it

        refused = _labsupport(env, "down")
        assert refused.returncode == 2, refused
        assert refused.stdout == "" and len(refused.stderr.splitlines()) == 1, refused.stderr
        assert f"pid {holder.pid} (holder for a test)" in refused.stderr and "--force" in refused.stderr
        assert cluster.running() is not None

        forced = _labsupport(env, "down", "--force")
        assert (forced.returncode, forced.stdout.strip()) == (0, "stopped"), forced
        assert cluster.running() is None
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_no_longer_blocks_down(cluster: Cluster, tmp_path: Path) -> None:
    env = lab_env(cluster, tmp_path)
    holder = _holder(env, tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()

    stopped = _labsupport(env, "down")
    assert (stopped.returncode, stopped.stdout.strip(), stopped.stderr) == (0, "stopped", ""), stopped
    assert cluster.running() is None
    assert not list((cluster.home / "uses").glob("*.json"))  # the gone use's file is removed too


def test_the_last_use_to_end_stops_a_server_a_use_started_but_not_one_up_started(cluster: Cluster, tmp_path: Path) -> None:
    env = lab_env(cluster, tmp_path)
    first, second = _holder(env, tmp_path), _holder(env, tmp_path)
    first.kill()
    first.wait()
    ends = _python(env, _USE_AND_END)
    assert ends.stdout.strip() == "False", ends  # the second holder still uses it
    second.kill()
    second.wait()
    ends = _python(env, _USE_AND_END)
    assert ends.stdout.strip() == "True", ends  # the last use: a use started the server, so it stops it
    assert cluster.running() is None

    assert _labsupport(env, "up").returncode == 0
    ends = _python(env, _USE_AND_END)
    assert ends.stdout.strip() == "False", ends  # 'labsupport up' started it: it keeps running
    assert cluster.running() is not None


def test_labsupport_lab_keeps_a_server_it_started_but_not_one_a_test_run_started(cluster: Cluster, tmp_path: Path) -> None:
    """``labsupport lab`` takes its use with ``keep``: a server it finds running (a test run's, which
    a browser test's JupyterLab joins) still stops when the last use ends; one it starts keeps running."""
    env = lab_env(cluster, tmp_path)
    holder = _holder(env, tmp_path)  # a run that started the server for itself
    joined = _python(env, _KEEP_AND_END)
    assert joined.stdout.split() == ["False", "False"], joined  # found it running; the holder still uses it
    holder.kill()
    holder.wait()
    ends = _python(env, _USE_AND_END)
    assert ends.stdout.strip() == "True", ends  # the run's rule stands: the last use stops it
    assert cluster.running() is None

    started = _python(env, _KEEP_AND_END)
    assert started.stdout.split() == ["True", "False"], started  # started it, kept it
    assert cluster.running() is not None


def test_reset_refuses_while_a_use_holds_the_server_or_a_person_made_a_database_and_force_resets(
        cluster: Cluster, tmp_path: Path) -> None:
    from labsupport import databases
    from labsupport.connection import fetchval, run_sync

    env = lab_env(cluster, tmp_path)
    holder = _holder(env, tmp_path)
    try:
        refused = _labsupport(env, "reset")
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert len(refused.stderr.splitlines()) == 1 and f"pid {holder.pid} (holder for a test)" in refused.stderr
    finally:
        holder.kill()
        holder.wait()

    info = cluster.up()[0]
    run_sync(databases.create(info.url, "scratch_lab_made"))  # the lab's mark: never blocks a reset
    run_sync(databases.drop_lab_made(info.url, "scratch_lab_made"))
    run_sync(fetchval(info.url, "CREATE DATABASE notes_by_hand"))  # no comment: a person's
    kept = _labsupport(env, "reset")
    assert kept.returncode == 2 and len(kept.stderr.splitlines()) == 1, kept
    assert "notes_by_hand" in kept.stderr and "--force" in kept.stderr, kept.stderr
    assert run_sync(databases.exists(cluster.up()[0].url, "notes_by_hand"))

    forced = _labsupport(env, "reset", "--force")
    assert forced.returncode == 0 and forced.stdout.startswith("recreated"), forced
    assert not run_sync(databases.exists(cluster.up()[0].url, "notes_by_hand"))


# ---------------------------------------------------------------- commands side by side


@pytest.mark.slow
def test_two_runs_at_once_in_one_lab_both_pass_and_the_server_stops_after_both(cluster: Cluster, tmp_path: Path) -> None:
    env = lab_env(cluster, tmp_path)
    first = _start([*LABSUPPORT, "run", "00", "--out", str(tmp_path / "a")], env)
    wait_for(lambda: started_a_kernel(first.pid) or first.poll() is not None, "the first run's kernel start")
    second = _start([*LABSUPPORT, "run", "00", "--out", str(tmp_path / "b")], env)
    outputs = [p.communicate(timeout=600)[0] for p in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert cluster.running() is None, outputs


_SUITE = '''
    import os, time
    from pathlib import Path

    from labsupport.connection import fetchval, run_sync


    def test_the_server_answers_until_told_to_stop(lab_server):
        Path(os.environ["LEASE_TEST_READY"]).touch()
        deadline = time.monotonic() + 600
        while not Path(os.environ["LEASE_TEST_DONE"]).exists():
            assert run_sync(fetchval(lab_server.url, "SELECT 1")) == 1
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert run_sync(fetchval(lab_server.url, "SELECT 1")) == 1
'''


@pytest.mark.slow
def test_a_run_beside_a_test_run_in_one_lab_both_pass(cluster: Cluster, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\nlab_start_server = true\n")
    (suite / "test_beside.py").write_text(textwrap.dedent(_SUITE))
    ready, done = tmp_path / "ready", tmp_path / "done"
    env = lab_env(cluster, tmp_path) | {"LEASE_TEST_READY": str(ready), "LEASE_TEST_DONE": str(done)}

    run = _start([*LABSUPPORT, "run", "00", "--out", str(tmp_path / "out")], env)  # it starts the server
    wait_for(lambda: cluster.running() is not None or run.poll() is not None, "the run's server start")
    tests = _start([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(suite)], env, cwd=suite)
    wait_for(lambda: ready.exists() or tests.poll() is not None, "the test run's start")
    run_output = run.communicate(timeout=600)[0]
    time.sleep(1)  # the test keeps using the server after the run that started it ended
    done.touch()
    test_output = tests.communicate(timeout=300)[0]

    assert run.returncode == 0, run_output
    assert tests.returncode == 0, test_output
    assert cluster.running() is None, (run_output, test_output)  # the last use ended: it stopped the server


def test_the_reapers_line_is_said_only_where_no_parents_use_covers_the_process(cluster: Cluster, tmp_path: Path) -> None:
    """A kernel or nested pytest under a command that holds a use: its line would land in a cell or a
    suite's captured output that lessons and tests read; the command said it at its start."""
    env = lab_env(cluster, tmp_path)
    holder = _holder(env, tmp_path)
    try:
        (use,) = (cluster.home / "uses").glob(f"{holder.pid}-*.json")
        code = "from labsupport import server; server.say_reaped(['gone_db'], [])"
        alone = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        covered = subprocess.run([sys.executable, "-c", code], env=env | {"LAB_SERVER_USE": str(use)},
                                 capture_output=True, text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert alone.stderr == ("labsupport: removed what runs that are gone left behind: 1 database(s) (gone_db), "
                            "0 temporary folder(s)\n"), alone
    assert (covered.stdout, covered.stderr) == ("", ""), covered


def test_the_reapers_line_is_ordinary_output_in_a_kernel_and_news_on_stderr_in_a_command(tmp_path: Path) -> None:
    """In a notebook stderr is a red box that reads like an error; a command's stdout may be what a script reads."""
    code = "{pre}from labsupport.server import say_reaped; say_reaped(['gone_db'], [])"
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_SERVER_USE", "LAB_DATABASE_URL")}
    env.update(LAB_HOME=str(tmp_path / "lab"), IPYTHONDIR=str(tmp_path / "ipython"))
    for pre, stream in (("import ipykernel.kernelapp; ", "stdout"), ("", "stderr")):
        run = subprocess.run([sys.executable, "-c", code.format(pre=pre)], env=env, capture_output=True, text=True,
                             timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        assert "left behind: 1 database(s) (gone_db)" in getattr(run, stream), (pre, run.stdout, run.stderr)
