"""Several attendees, really: a JupyterHub started from ``workshop/jupyterhub_config.py``, three attendees
logged in from three browser contexts (headless system Chromium), each running lessons 00 and 01 with Run
All at the same time, each on their own PostgreSQL; then the hub stops and takes everything with it.

The real parts: JupyterHub (the ``[workshop]`` extra), its proxy configurable-http-proxy (npm, ``make
hub-deps``), JupyterHub's local process spawner, JupyterLab, the lab's PostgreSQL. The workshop config runs
in its try-out mode (``WORKSHOP_TRYOUT_HOMES``): attendees are not system users, every server runs as this
test's user (as in JupyterHub's own tests), each with its own home, copy of the lab and lab state. The test
overrides only what it must, in a config file that loads the workshop's: where the hub listens (127.0.0.1,
free ports), where it keeps its state (a temp folder), and JupyterLab's app exposed to the page.

The venv has the lab installed editable; a room installs it NON-editable (see the config's docstring), so
here the attendees' servers find the ``labsupport`` package in a copy outside the checkout (PYTHONPATH), as
a non-editable install puts it: each kernel then runs the lessons' scenarios from the attendee's own copy.

Marked ``browser``: ``make test-browser`` runs it (CI too). Screenshots go to
``build/screenshots/hub-<attendee>-<notebook>.png``, the hub's log to ``build/hub-test.log``. It holds the
lab's timing lock (``timing_alone``): three attendees at once would upset the timings another run measures,
so on a shared machine it may first wait for one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from browser_support import (
    ROOT,
    cannot_run,
    launch_chromium,
    run_all_done,
    save,
    saved_problems,
    screenshot,
    shown_errors,
    shutdown_kernel,
    start_run_all,
    state,
    wait_until_ready,
)

from labsupport import databases, owners
from labsupport.connection import run_sync
from labsupport.errors import LabError
from labsupport.server.processes import free_port
from labsupport.teaching import jupyter_lab

pytestmark = pytest.mark.browser

ATTENDEES = ("alice", "bob", "carol")
LESSONS = ("00_start_here.ipynb", "01_dev_database_purge.ipynb")
LAB_FOLDER = "isolation-lab"  # the attendee's copy in their home, as the workshop config names it
VENV_BIN = Path(sys.executable).parent
PROXY = ROOT / "build" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_START_TIMEOUT_S = 90
SPAWN_TIMEOUT_S = 240  # three JupyterLabs starting at once on a loaded 2-core machine
OPEN_TIMEOUT_S = 180
LESSON_TIMEOUT_S = 600  # three attendees' Run All at once; lesson 01 runs pytest suites in its cells
STOP_TIMEOUT_S = 120
PASSWORD = secrets.token_urlsafe(12)  # the room's shared password (DummyAuthenticator)

_OVERRIDES = """\
# tests/workshop/test_hub.py: the workshop's config, then only what a test must change.
c = get_config()  # noqa: F821 - JupyterHub defines get_config in the config file it loads
load_subconfig({config!r})  # noqa: F821 - JupyterHub defines load_subconfig there too
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.JupyterHub.db_url = "sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{state}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{state}/jupyterhub-proxy.pid"
c.Spawner.args = [*(c.Spawner.args if "args" in c.Spawner else []), "--LabApp.expose_app_in_browser=True"]
c.Spawner.environment = {{**c.Spawner.environment, "PYTHONPATH": {site!r}}}
"""


@dataclass
class Hub:
    url: str
    proc: subprocess.Popen[bytes]
    root: Path
    log: Path

    def home(self, name: str) -> Path:
        return self.root / "homes" / name

    def lab_home(self, name: str) -> Path:
        return self.home(name) / LAB_FOLDER / ".lab"

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log, lines)


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _processes() -> dict[int, owners.Process]:
    """Every live process by pid (``owners.processes``: zombies left out, start times to tell a reused pid)."""
    return {p.pid: p for p in owners.processes()}


def _descendants(roots: set[int], procs: dict[int, owners.Process]) -> set[int]:
    found, todo = set(roots), list(roots)
    while todo:
        parent = todo.pop()
        for p in procs.values():
            if p.ppid == parent and p.pid not in found:
                found.add(p.pid)
                todo.append(p.pid)
    return found & set(procs)


def _hub_env(hub_root: Path, password: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "LAB_", "WORKSHOP_", "JUPYTER", "JPY_"))}  # the attendees' own
    env |= {"PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            "WORKSHOP_LAB_SOURCE": str(ROOT), "WORKSHOP_TRYOUT_HOMES": str(hub_root / "homes"),
            "WORKSHOP_ATTENDEES": ",".join(ATTENDEES), "WORKSHOP_SHARED_PASSWORD": password}
    return env


GONE_WITHIN_S = 20.0


def _stop(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """SIGTERM (JupyterHub then stops the servers and the proxy); True if it exited in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
        return True
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    """A running hub, its state and the attendees' homes in one temp folder named for its owner (owners.py)."""
    jupyterhub = VENV_BIN / "jupyterhub"
    if not jupyterhub.exists():
        cannot_run(f"JupyterHub is not installed in {VENV_BIN.parent}: run 'make hub-deps' (the [workshop] extra)")
    if not os.access(PROXY, os.X_OK):
        cannot_run(f"JupyterHub's proxy is not at {PROXY.relative_to(ROOT)}: run 'make hub-deps' (npm, Node.js 20+)")
    request.getfixturevalue("timing_alone")  # only once the pieces are there: a missing one is said at once
    root = owners.temp_dir("hub")
    os.chmod(root, 0o755)  # PostgreSQL runs as an unprivileged user when we are root: it must reach the lab state
    procs: set[int] = set()
    proc = None
    try:
        site = root / "site"
        shutil.copytree(ROOT / "labsupport", site / "labsupport", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "state").mkdir()
        ports: set[int] = set()
        while len(ports) < 3:  # the proxy's public and API ports, the hub's own
            ports.add(free_port())
        port, hub_port, api_port = sorted(ports)
        config = root / "hub_config.py"
        config.write_text(_OVERRIDES.format(config=str(ROOT / "workshop" / "jupyterhub_config.py"), port=port,
                                            hub_port=hub_port, api_port=api_port, state=root / "state", site=str(site)))
        log, url = root / "jupyterhub.log", f"http://127.0.0.1:{port}"
        try:
            proc = jupyter_lab.start([str(jupyterhub), "-f", str(config)], f"{url}/hub/api/", log,
                                     env=_hub_env(root, PASSWORD), timeout_s=HUB_START_TIMEOUT_S, what="JupyterHub",
                                     cwd=root / "state", new_session=True)
        except LabError as exc:  # stopped with its process group: the proxy it may have started too
            pytest.fail(f"{exc}:\n{_tail(log)}", pytrace=False)
        yield Hub(url, proc, root, log)
    finally:
        if proc is not None:
            procs = _descendants({proc.pid}, _processes())
            if not _stop(proc, STOP_TIMEOUT_S):
                proc.kill()
                proc.wait()
            for pid in procs - {proc.pid}:  # what a failed stop left; the test has said so already
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        from labsupport.server import Cluster

        if (root / "jupyterhub.log").exists():  # kept for a look after the run; the rest of the folder goes
            (ROOT / "build").mkdir(exist_ok=True)
            shutil.copyfile(root / "jupyterhub.log", ROOT / "build" / "hub-test.log")
        for recorded in root.rglob("server.json"):  # every lab state made here: its PostgreSQL and its files
            Cluster(recorded.parent).destroy()        # (in /dev/shm when it has room), wherever a failed run put it
        shutil.rmtree(root, ignore_errors=True)


def _log_in(page, hub: Hub, name: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")


def _run_lesson_for_everyone(pages: dict[str, object], hub: Hub, lesson: str) -> list[str]:
    """Open ``lesson`` for every attendee, start Run All in every page, wait for all; then check each
    attendee's page and saved file. Returns one line per attendee."""
    stem = lesson.removesuffix(".ipynb")
    path = f"{LAB_FOLDER}/notebooks/{lesson}"
    for name, page in pages.items():  # a named workspace per lesson: nothing else reopens
        page.goto(f"{hub.url}/user/{name}/lab/workspaces/{stem}/tree/{path}")  # type: ignore[attr-defined]  # playwright's Page, typed loosely here
    for page in pages.values():
        wait_until_ready(page, path, OPEN_TIMEOUT_S)
    started = time.monotonic()
    for page in pages.values():
        start_run_all(page, path)
    running = dict(pages)
    ran_s: dict[str, float] = {}
    while running:
        for name, page in list(running.items()):
            if run_all_done(page, path):
                ran_s[name] = time.monotonic() - started
                del running[name]
        if running and time.monotonic() - started > LESSON_TIMEOUT_S:
            pytest.fail(f"{lesson}: Run All not done within {LESSON_TIMEOUT_S} s for {sorted(running)}", pytrace=False)
        time.sleep(2)
    lines = []
    for name, page in pages.items():
        now = state(page, path)
        assert now["open"], f"{name}, {lesson}: its tab closed during the run"
        assert now["status"] != "dead", f"{name}, {lesson}: the kernel died\n{hub.log_tail()}"
        save(page, path)
        shot = screenshot(page, path, f"hub-{name}-{stem}")
        shown = shown_errors(page, path)
        saved = json.loads((hub.home(name) / path).read_text())  # the attendee's own copy, as JupyterLab saved it
        saved_errors, unrun = saved_problems(saved)
        assert not shown and not saved_errors, f"{name}, {lesson}: error output: " + "; ".join(shown or saved_errors)
        assert not unrun, f"{name}, {lesson}: code cells {unrun} did not run"
        shutdown_kernel(page, path)
        lines.append(f"{name}: {lesson} ran in {ran_s[name]:.0f} s; screenshot {shot.relative_to(ROOT)}")
    return lines


class Server(NamedTuple):
    name: str
    pid: int
    data: Path
    url: str


def _server_of(hub: Hub, name: str) -> Server:
    """The attendee's PostgreSQL as their lab state records it, checked against the running process."""
    lab_home = hub.lab_home(name)
    assert (lab_home / "server.json").exists(), f"{name}: no lab state in {lab_home} (lesson 00 starts the server)"
    info = json.loads((lab_home / "server.json").read_text())
    data = Path(info["data_dir"])
    pid = int((data / "postmaster.pid").read_text().split()[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTEST_"))} | {"LAB_HOME": str(lab_home)}
    url = subprocess.run([str(VENV_BIN / "labsupport"), "url"], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    return Server(name, pid, data, url)


def test_three_attendees_each_run_lessons_on_their_own_postgresql(hub: Hub) -> None:
    """Three logins, lessons 00 and 01 with Run All overlapping, no error output; three PostgreSQL servers,
    one per attendee's lab state, none seeing another's databases; after the hub stops, nothing left running."""
    started = time.monotonic()
    report = []
    with launch_chromium() as browser:
        contexts = {name: browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]  # playwright's Browser, typed loosely here
                    for name in ATTENDEES}
        pages = {name: context.new_page() for name, context in contexts.items()}
        for name, page in pages.items():  # the hub spawns the three servers at once
            _log_in(page, hub, name)
        for name, page in pages.items():
            try:
                page.wait_for_url(re.compile(rf"/user/{name}/lab"), timeout=SPAWN_TIMEOUT_S * 1000)
            except Exception:  # noqa: BLE001 - playwright's timeout or a closed page: either way it did not open
                pytest.fail(f"{name}: JupyterLab did not open after login within {SPAWN_TIMEOUT_S} s "
                            f"(page at {page.url}):\n{hub.log_tail()}", pytrace=False)
        for lesson in LESSONS:
            report += _run_lesson_for_everyone(pages, hub, lesson)
        for context in contexts.values():
            context.close()

    # Three servers, one per attendee's lab state: distinct postmasters, distinct data folders.
    servers = [_server_of(hub, name) for name in ATTENDEES]
    procs = _processes()
    for s in servers:
        assert s.pid in procs and procs[s.pid].name == "postgres", f"{s.name}: postmaster {s.pid} is not running"
        assert f"-D {s.data}" in procs[s.pid].args, f"{s.name}: postmaster {s.pid} serves another folder: {procs[s.pid].args}"
        assert (hub.lab_home(s.name) / "data").resolve() == s.data.resolve(), f"{s.name}: data folder not their lab state's"
    assert len({s.pid for s in servers}) == 3, f"the attendees share a PostgreSQL: {servers}"
    assert len({s.data.resolve() for s in servers}) == 3, f"the attendees share a data folder: {servers}"
    # A database made in one attendee's server is seen there and in no other.
    for s in servers:
        run_sync(databases.create(s.url, f"only_{s.name}"))
    for s in servers:
        seen = set(run_sync(databases.names(s.url, "only\\_%")))
        assert seen == {f"only_{s.name}"}, f"{s.name}'s server shows {sorted(seen)}"

    # Stopping the hub stops everything: the single-user servers, their kernels, the proxy and every PostgreSQL.
    before = _processes()
    tree = _descendants({hub.proc.pid}, before) - {hub.proc.pid}
    singleusers = {p for p in tree if "jupyterhub-singleuser" in before[p].args}
    proxy = int((hub.root / "state" / "jupyterhub-proxy.pid").read_text())
    assert len(singleusers) == 3, f"expected 3 single-user servers under the hub, found {len(singleusers)}"
    assert proxy in tree and "configurable-http-proxy" in before[proxy].args, f"proxy {proxy} is not the hub's"
    watched = {pid: before[pid] for pid in tree | _descendants({s.pid for s in servers}, before)}
    assert _stop(hub.proc, STOP_TIMEOUT_S), f"JupyterHub did not stop within {STOP_TIMEOUT_S} s:\n{hub.log_tail()}"
    deadline = time.monotonic() + GONE_WITHIN_S  # a postmaster told to stop may finish its shutdown a moment later
    while True:
        after = _processes()
        left = [p for pid, p in watched.items() if pid in after and after[pid].started == p.started]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    left += [p for p in after.values() if p.pid not in watched
             and (any(str(s.data) in p.args for s in servers) or str(hub.root) in p.args)]
    tops = [p for p in left if p.ppid not in {q.pid for q in left}]  # a postmaster, not each of its workers
    assert not left, (f"{len(left)} processes still running after the hub stopped, among them:\n"
                      + "\n".join(f"{p.pid} {p.args[:160]}" for p in tops) + f"\nthe hub's log ends:\n{hub.log_tail()}")
    report.append(f"hub stopped: {len(watched)} processes gone (3 single-user servers, the proxy, 3 PostgreSQL)")
    report.append(f"wall time {time.monotonic() - started:.0f} s")
    print("\n".join(report))
