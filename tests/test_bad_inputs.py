"""Bad inputs, whichever entry point meets them: one line on stderr, exit status 2, nothing changed.

The entry points are the ``labsupport`` command, ``make test``'s pytest plugin (``python -m pytest``
on a tiny suite with ``lab_start_server = true``) and a notebook's first cell (``lesson.open_lab()``
in ``python -c``; it must raise a one-line LabError). One table holds every case. A plugin setting
that its hooks refuse ends the run as pytest's usage error does, exit status 4 (docs/plugin.md); one
that a fixture refuses fails the test with one line. Every subprocess runs in folders of its own
(``users_support.own_folders``). "Nothing changed":
the lab's state folder (every file's size, server.json's bytes), whether a postmaster serves it and
which, its folders outside (/dev/shm, /tmp), and the databases of the external server.

The servers are throwaway clusters of this module (never the lab's shared one): a TCP one with a
password and an ordinary role (the "external" server, and a lab made by root), and a stopped one
whose data folder the cases spoil and restore.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from users_support import own_folders, python_for, pythonpath

from labsupport import databases
from labsupport.connection import fetchval, run_sync
from labsupport.server import Cluster, ServerInfo
from labsupport.server.processes import find_postmaster, wait_gone
from labsupport.server.users import AsUser, server_user

REPO = Path(__file__).resolve().parent.parent
LEARNER, LEARNER_PW = "learner", "learner-pw"

NOTEBOOK_CELL = textwrap.dedent("""
    import sys
    from labsupport.connection import run_sync
    from labsupport.errors import LabError
    from labsupport.teaching import lesson
    try:
        lab = lesson.open_lab(*sys.argv[1:2])   # the first cell; with a URL, as papermill passes it
        if len(sys.argv) > 1:
            run_sync(lab.server_version())      # a later cell's first query
    except LabError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
""")


# ---------------------------------------------------------------- throwaway servers of this module


def _throwaway_home() -> Path:
    root = Path(tempfile.mkdtemp(prefix="lab-bad-"))
    os.chmod(root, 0o755)  # the server user (and, in one case, another user) must reach it as root
    return root / "state"


@pytest.fixture(scope="module")
def external() -> Iterator[tuple[Cluster, ServerInfo]]:
    """A running TCP cluster made by this (root) user: an "external" server with an ordinary role."""
    home = _throwaway_home()
    cluster = Cluster(home)
    info, _ = cluster.up(tcp=True)
    run_sync(fetchval(info.url, f"CREATE ROLE {LEARNER} LOGIN PASSWORD '{LEARNER_PW}'"))
    yield cluster, info
    cluster.destroy()
    shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture(scope="module")
def stopped() -> Iterator[Cluster]:
    """A cluster that was started once and stopped: its data folder exists, no server runs."""
    home = _throwaway_home()
    cluster = Cluster(home)
    cluster.up()
    cluster.down()
    yield cluster
    cluster.destroy()
    shutil.rmtree(home.parent, ignore_errors=True)


def _other_user() -> pwd.struct_passwd | None:
    """An existing user who is neither us nor the server user: someone else on this machine."""
    if os.geteuid() != 0:
        return None
    server = server_user()
    for name in ("nobody", "daemon", "bin", "sys"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid not in (0, server.uid if server else -1):
            return entry
    return None


# ---------------------------------------------------------------- running an entry point


@dataclass
class Run:
    """One entry point's command, its environment and who runs it."""

    entry: str  # "cli", "plugin" or "notebook"
    args: tuple[str, ...] = ()
    env: Mapping[str, str | None] = field(default_factory=dict)  # None: the variable is unset
    user: pwd.struct_passwd | None = None
    ini: str | None = None  # the plugin's suite: its pytest.ini settings (default: lab_start_server = true)
    files: dict[str, str] = field(default_factory=dict)  # the plugin's suite: more files, or its test file


def _python_for(user: pwd.struct_passwd | None) -> tuple[str, dict[str, str]]:
    """An interpreter the user can run, and the PYTHONPATH that finds the lab's packages with it."""
    if user is None:
        return sys.executable, {}
    return python_for(user), {"PYTHONPATH": pythonpath(REPO)}


def _suite(ini: str | None, files: dict[str, str]) -> Path:
    """A tiny suite: by default it asks the plugin to start the lab's server, as the lab's own
    ``make test`` does; ``ini`` replaces that setting, ``files`` adds modules (or its own test file)."""
    folder = Path(tempfile.mkdtemp(prefix="lab-bad-suite-"))
    os.chmod(folder, 0o755)
    settings = "lab_start_server = true\n" if ini is None else ini
    (folder / "pytest.ini").write_text(f"[pytest]\nasyncio_default_fixture_loop_scope = function\n{settings}")
    (folder / "test_ran.py").write_text(
        "from pathlib import Path\n\n\ndef test_ran():\n    (Path(__file__).parent / 'ran').write_text('yes')\n")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def launch(run: Run) -> subprocess.CompletedProcess[str]:
    """Run the entry point in folders of its own (HOME, IPYTHONDIR, JUPYTER_*, TMPDIR: ``own_folders``)."""
    python, extra = _python_for(run.user)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "COV_CORE_", "LAB_")) and k != "PYTHONPATH"}
    env.update(extra)
    kwargs: AsUser = {}
    if run.user is not None:
        kwargs = {"user": run.user.pw_uid, "group": run.user.pw_gid, "extra_groups": []}
    with own_folders(run.user) as folders:
        env.update(folders)
        env.update({k: v for k, v in run.env.items() if v is not None})
        for name in (k for k, v in run.env.items() if v is None):
            env.pop(name, None)
        cwd = Path(folders["HOME"])
        suite = None
        if run.entry == "cli":
            cmd = [python, "-m", "labsupport", *run.args]
        elif run.entry == "plugin":
            suite = cwd = _suite(run.ini, run.files)
            cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *run.args, str(suite)]
        else:
            cmd = [python, "-c", NOTEBOOK_CELL, *run.args]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=180,
                                    check=False, **kwargs)
            if suite is not None:
                assert not (suite / "ran").exists(), "the suite ran its test after a bad input"
            return result
        finally:
            if suite is not None:
                shutil.rmtree(suite, ignore_errors=True)


# ---------------------------------------------------------------- "nothing changed"


def _tree(home: Path) -> object:
    """What a start would change in a state folder: its files' sizes, server.json's bytes, the data link."""
    if not home.exists():
        return None
    found: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        if path.is_symlink():
            found[str(path)] = "-> " + os.readlink(path)
        elif path.is_file():
            data = path.read_bytes() if path.name == "server.json" else b""
            found[str(path)] = (path.stat().st_size, hashlib.sha256(data).hexdigest())
    return found


def snapshot(home: Path, external_url: str) -> dict[str, object]:
    outside = Cluster(home)._outside_candidates()
    return {
        "state folder": _tree(home),
        "postmaster": find_postmaster(home / "data"),
        "folders outside": {str(p): p.exists() for p in outside},
        "databases": sorted(run_sync(databases.names(external_url))) if external_url else None,
    }


# ---------------------------------------------------------------- the cases


@dataclass
class Setup:
    """A case made ready: where to look for changes, and how to undo what the case spoiled."""

    env: dict[str, str]
    home: Path
    user: pwd.struct_passwd | None = None
    args: tuple[str, ...] = ()
    undo: Callable[[], object] = lambda: None  # what it returns is not used
    ini: str | None = None  # the plugin's suite (see ``Run``)
    files: dict[str, str] = field(default_factory=dict)
    status: int = 2  # 4: a plugin setting its hooks refuse, as pytest's usage errors end


def _fresh_home() -> Path:
    return Path(tempfile.gettempdir()) / f"lab-bad-never-{os.getpid()}-{time.monotonic_ns()}"


def _url_case(url: Callable[[ServerInfo], str]) -> Callable[..., Setup]:
    def setup(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
        # LAB_HOME names a folder that must still not exist afterwards: the lab started nothing of its own.
        home = _fresh_home()
        return Setup(env={"LAB_DATABASE_URL": url(external[1]), "LAB_HOME": str(home)}, home=home)
    return setup


def _malformed(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return _url_case(lambda info: "postgresql://postgres@localhost:port/postgres")(external, stopped)


def _wrong_password(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return _url_case(lambda info: f"postgresql://postgres:not-the-password@127.0.0.1:{info.port}/postgres")(
        external, stopped)


def _unreachable(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return _url_case(lambda info: "postgresql://postgres:pw@127.0.0.1:1/postgres")(external, stopped)


def _not_superuser(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return _url_case(lambda info: f"postgresql://{LEARNER}:{LEARNER_PW}@127.0.0.1:{info.port}/postgres")(
        external, stopped)


def _home_not_writable(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    return Setup(env={"LAB_HOME": "/proc/nope"}, home=Path("/proc/nope"))


def _own_lab(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return Setup(env={"LAB_HOME": str(external[0].home)}, home=external[0].home)


def _stopped_lab(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    return Setup(env={"LAB_HOME": str(stopped.home)}, home=stopped.home)


def _data_dir(cluster: Cluster) -> Path:
    state = cluster._load()
    assert state is not None
    return Path(state.data_dir)


def _data_not_ours(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    someone = _other_user()
    if someone is None:
        pytest.skip("only root can give a data folder to someone else")
    data = _data_dir(stopped)
    owner = os.stat(data)
    os.chown(data, someone.pw_uid, someone.pw_gid)
    return Setup(env={"LAB_HOME": str(stopped.home)}, home=stopped.home,
                 undo=lambda: os.chown(data, owner.st_uid, owner.st_gid))


def _other_version(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    marker = _data_dir(stopped) / "PG_VERSION"
    before = marker.read_bytes()
    marker.write_text("15\n")
    return Setup(env={"LAB_HOME": str(stopped.home)}, home=stopped.home, undo=lambda: marker.write_bytes(before))


def _busy_port(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    return Setup(env={"LAB_HOME": str(stopped.home)}, home=stopped.home, args=("up", "--port", str(port)),
                 undo=busy.close)


def _another_user(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    someone = _other_user()
    if someone is None:
        pytest.skip("needs root, to run labsupport as another user on a lab root made")
    return Setup(env={"LAB_HOME": str(external[0].home)}, home=external[0].home, user=someone)


def _server_died(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
    """The lab's own server killed with kill -9 after it handed out its URL."""
    info, _ = stopped.up()
    assert info.pid is not None
    os.kill(info.pid, signal.SIGKILL)
    assert wait_gone(info.pid, Path(info.data_dir or ""), 10.0)
    time.sleep(0.3)  # its backends notice and leave
    return Setup(env={"LAB_HOME": str(stopped.home)}, home=stopped.home, args=(info.url,))


# A module that raises while it is imported, as an app's settings module does without its variables.
BROKEN = "broken_app.py"
BROKEN_TEXT = "import os\n\nraise RuntimeError('no APP_DATABASE_URL in the environment')\n"
BROKEN_LINE = "importing broken_app raised RuntimeError: no APP_DATABASE_URL in the environment"
SCHEMA_TEXT = "from sqlalchemy import MetaData\n\nmetadata = MetaData()\n"
SETTINGS_TEXT = "import os\n\n\ndef database_url():\n    return os.environ['APP_DATABASE_URL']\n"


def _plugin_setting(*lines: str) -> Callable[..., Setup]:
    """The suite's pytest.ini says ``lines`` (and ``pythonpath = .``): the plugin refuses it at the start."""
    def setup(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> Setup:
        home = _fresh_home()  # must still not exist afterwards: the run started no server
        ini = "".join(f"{line}\n" for line in ("pythonpath = .", *lines))
        return Setup(env={"LAB_HOME": str(home)}, home=home, ini=ini, status=4,
                     files={BROKEN: BROKEN_TEXT, "app_schema.py": SCHEMA_TEXT, "app_settings.py": SETTINGS_TEXT})
    return setup


_METADATA_RAISES = _plugin_setting("lab_metadata = broken_app:thing")
_GUARD_URL_RAISES = _plugin_setting("lab_guard_url = broken_app:thing")
_SERVER_URL_RAISES = _plugin_setting("lab_metadata = app_schema:metadata", "lab_server_url = broken_app:thing")
_GUARD_URL_CALL_RAISES = _plugin_setting("lab_guard_url = app_settings:database_url")

Case = tuple[str, str, Callable[..., Setup], tuple[str, ...], str]

CASES: list[Case] = [
    # (id, entry point, setup, arguments, a fragment of the one line)
    ("malformed-url-cli", "cli", _malformed, ("status",), "LAB_DATABASE_URL is not a URL"),
    ("malformed-url-plugin", "plugin", _malformed, (), "LAB_DATABASE_URL is not a URL"),
    ("malformed-url-notebook", "notebook", _malformed, (), "LAB_DATABASE_URL is not a URL"),
    ("wrong-password-cli", "cli", _wrong_password, ("status",), "wrong password"),
    ("wrong-password-plugin", "plugin", _wrong_password, (), "wrong password"),
    ("wrong-password-notebook", "notebook", _wrong_password, (), "wrong password"),
    ("unreachable-cli", "cli", _unreachable, ("status",), "nothing is listening at 127.0.0.1:1"),
    ("unreachable-plugin", "plugin", _unreachable, (), "nothing is listening at 127.0.0.1:1"),
    ("unreachable-notebook", "notebook", _unreachable, (), "nothing is listening at 127.0.0.1:1"),
    ("not-superuser-status", "cli", _not_superuser, ("status",), "ALTER ROLE \"learner\" SUPERUSER"),
    ("not-superuser-run", "cli", _not_superuser, ("run", "00"), "'learner', which is not a superuser"),
    ("not-superuser-plugin", "plugin", _not_superuser, (), "'learner', which is not a superuser"),
    ("not-superuser-notebook", "notebook", _not_superuser, (), "'learner', which is not a superuser"),
    ("unknown-notebook", "cli", _stopped_lab, ("run", "07"), "unknown notebook '07'"),
    ("home-not-writable-up", "cli", _home_not_writable, ("up",), "LAB_HOME=/proc/nope cannot be used"),
    ("home-not-writable-status", "cli", _home_not_writable, ("status",), "LAB_HOME=/proc/nope cannot be used"),
    ("home-not-writable-run", "cli", _home_not_writable, ("run", "00"), "LAB_HOME=/proc/nope cannot be used"),
    ("home-not-writable-plugin", "plugin", _home_not_writable, (), "LAB_HOME=/proc/nope cannot be used"),
    ("home-not-writable-notebook", "notebook", _home_not_writable, (), "LAB_HOME=/proc/nope cannot be used"),
    ("data-not-ours-cli", "cli", _data_not_ours, ("up",), "set LAB_HOME to a folder of your own"),
    ("data-not-ours-plugin", "plugin", _data_not_ours, (), "but the server runs as"),
    ("data-not-ours-notebook", "notebook", _data_not_ours, (), "but the server runs as"),
    ("data-pg15-cli", "cli", _other_version, ("up",), "made by PostgreSQL 15"),
    ("data-pg15-plugin", "plugin", _other_version, (), "labsupport reset"),
    ("data-pg15-notebook", "notebook", _other_version, (), "made by PostgreSQL 15"),
    ("busy-port", "cli", _busy_port, (), "in use: choose another with --port"),
    ("url-empty-name", "cli", _own_lab, ("url", ""), "the database name is empty"),
    ("url-name-too-long", "cli", _own_lab, ("url", "x" * 64), "is 64 bytes"),
    ("another-user-status", "cli", _another_user, ("status",), "its server is running (pid"),
    ("another-user-up", "cli", _another_user, ("up",), "belongs to root"),
    ("another-user-url", "cli", _another_user, ("url",), "set LAB_HOME to a folder of your own"),
    ("another-user-plugin", "plugin", _another_user, (), "belongs to root"),
    ("another-user-notebook", "notebook", _another_user, (), "belongs to root"),
    ("no-command", "cli", _stopped_lab, (), "the following arguments are required: COMMAND"),
    ("unknown-command", "cli", _stopped_lab, ("frobnicate",), "invalid choice: 'frobnicate'"),
    ("bad-port-argument", "cli", _stopped_lab, ("up", "--port", "abc"), "'abc' is not a port number"),
    ("bad-jobs-argument", "cli", _stopped_lab, ("run", "-j", "x"), "invalid int value: 'x'"),
    ("server-died-url", "cli", _server_died, ("url",), "start it with 'labsupport up'"),
    ("server-died-notebook", "notebook", _server_died, (), "start it again with 'labsupport up'"),
    ("metadata-raises-plugin", "plugin", _METADATA_RAISES, (), f"lab_metadata 'broken_app:thing': {BROKEN_LINE}"),
    ("metadata-raises-plugin-n2", "plugin", _METADATA_RAISES, ("-n", "2"),
     f"lab_metadata 'broken_app:thing': {BROKEN_LINE}"),
    ("guard-url-raises-plugin", "plugin", _GUARD_URL_RAISES, (), f"lab_guard_url 'broken_app:thing': {BROKEN_LINE}"),
    ("guard-url-raises-plugin-n2", "plugin", _GUARD_URL_RAISES, ("-n", "2"),
     f"lab_guard_url 'broken_app:thing': {BROKEN_LINE}"),
    ("server-url-raises-plugin", "plugin", _SERVER_URL_RAISES, (), f"lab_server_url 'broken_app:thing': {BROKEN_LINE}"),
    ("server-url-raises-plugin-n2", "plugin", _SERVER_URL_RAISES, ("-n", "2"),
     f"lab_server_url 'broken_app:thing': {BROKEN_LINE}"),
    ("guard-url-callable-raises-plugin", "plugin", _GUARD_URL_CALL_RAISES, (),
     "lab_guard_url 'app_settings:database_url': calling it raised KeyError: 'APP_DATABASE_URL'"),
]


@pytest.mark.parametrize(("entry", "setup", "args", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_a_usage_status_and_changes_nothing(
    entry: str, setup: Callable[..., Setup], args: tuple[str, ...], needle: str,
    external: tuple[Cluster, ServerInfo], stopped: Cluster,
) -> None:
    ready = setup(external, stopped)
    admin = external[1].url
    try:
        before = snapshot(ready.home, admin)
        result = launch(Run(entry, args or ready.args, ready.env, ready.user, ready.ini, ready.files))  # the row's args, else the case's
        after = snapshot(ready.home, admin)
    finally:
        ready.undo()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == ready.status, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert len(lines) == 1, result.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "INTERNALERROR" not in result.stderr
    assert "postgresql+asyncpg://" not in result.stdout, "a URL was handed out for a bad input"
    assert after == before, "a bad input changed something"


def test_doctor_names_a_non_superuser_and_a_remedy_for_an_external_server(
        external: tuple[Cluster, ServerInfo], stopped: Cluster) -> None:
    ready = _not_superuser(external, stopped)
    result = launch(Run("cli", ("doctor",), ready.env))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    lines = result.stdout.strip().splitlines()
    assert all(line.startswith(("[PASS] ", "[FAIL] ")) for line in lines), result.stdout
    (server,) = [line for line in lines if line.startswith("[FAIL] server starts")]
    assert "'learner', which is not a superuser" in server and "ALTER ROLE \"learner\" SUPERUSER" in server
    assert "labsupport reset" not in result.stdout  # refused while LAB_DATABASE_URL is set
    assert not Path(ready.env["LAB_HOME"]).exists()


def test_doctor_as_another_user_prints_fail_lines(external: tuple[Cluster, ServerInfo], stopped: Cluster) -> None:
    ready = _another_user(external, stopped)
    before = snapshot(ready.home, external[1].url)
    result = launch(Run("cli", ("doctor",), ready.env, ready.user))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 5 and all(line.startswith(("[PASS] ", "[FAIL] ")) for line in lines), result.stdout
    (server,) = [line for line in lines if line.startswith("[FAIL] server starts")]
    assert "belongs to root and its server is running" in server
    assert snapshot(ready.home, external[1].url) == before


@pytest.mark.parametrize("home", ["own-home", "no-home"])
def test_doctor_as_another_user_passes_beside_an_unwritable_ipython_in_the_temporary_folder(
        home: str, external: tuple[Cluster, ServerInfo], stopped: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Someone else's root-owned ``$TMPDIR/.ipython`` (another run's, another test's) changes nothing,
    with a HOME of the doctor's own or none at all."""
    ready = _another_user(external, stopped)
    env: dict[str, str | None] = {**ready.env, **({"HOME": None} if home == "no-home" else {})}
    shared = Path(tempfile.mkdtemp(prefix="lab-bad-tmpdir-"))
    try:
        os.chmod(shared, 0o1777)
        (shared / ".ipython").mkdir(mode=0o755)  # ours (root's): the other user cannot write it
        monkeypatch.setattr(tempfile, "tempdir", str(shared))
        monkeypatch.setenv("TMPDIR", str(shared))
        result = launch(Run("cli", ("doctor",), env, ready.user))
        left = sorted(p.name for p in shared.iterdir())
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert result.returncode == 1 and result.stderr == "", result.stderr
    assert any(line.startswith("[FAIL] server starts") for line in result.stdout.splitlines()), result.stdout
    assert left == [".ipython"], f"the doctor's run left {left} in the temporary folder"


# A fixture refuses these settings: the test fails with the one line, no traceback of the app's module.
FIXTURE_SETTINGS = [
    ("lab_database_url", "lab_engine"),
    ("lab_app", "lab_app"),
    ("lab_session_dependency", "lab_session_dependency"),
    ("lab_session_factory_targets", "lab_redirect_targets"),
]


@pytest.mark.parametrize(("setting", "fixture"), FIXTURE_SETTINGS, ids=[s for s, _ in FIXTURE_SETTINGS])
def test_a_fixture_setting_whose_module_raises_fails_the_test_with_one_line(setting: str, fixture: str) -> None:
    test = f"from pathlib import Path\n\n\ndef test_ran({fixture}):\n    (Path(__file__).parent / 'ran').write_text('yes')\n"
    result = launch(Run("plugin", ("-p", "no:randomly"), {"LAB_HOME": str(_fresh_home())},
                        ini=f"pythonpath = .\n{setting} = broken_app:thing\n",
                        files={BROKEN: BROKEN_TEXT, "test_ran.py": test}))
    output = result.stdout + result.stderr
    assert result.returncode == 1, (result.returncode, output[-2000:])
    said = [line for line in result.stdout.splitlines() if line.startswith("labsupport: ")]
    assert said == [f"labsupport: {setting} 'broken_app:thing': {BROKEN_LINE}"], output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output and "raise RuntimeError" not in output, output


def test_a_run_with_per_worker_databases_shows_no_pytest_deprecation(external: tuple[Cluster, ServerInfo]) -> None:
    """The plugin's fixtures are plain functions: pytest 9 deprecates fixtures that are methods of an object."""
    test = ("def test_uses_the_plugins_fixtures(lab_database_url, lab_engine_options, worker_id):\n"
            "    assert lab_database_url.endswith(f'_{worker_id}_test')\n"
            "    assert lab_engine_options['connect_args']['server_settings']['application_name'].endswith(worker_id)\n")
    admin = external[1].url
    before = sorted(run_sync(databases.names(admin)))
    for args in (("-p", "no:xdist"), ("-n", "2")):
        result = launch(Run("plugin", ("-W", "error::pytest.PytestRemovedIn10Warning", "-rA", *args),
                            {"LAB_SERVER_URL": admin, "LAB_DB_PREFIX": "nodeprecation"},
                            ini="pythonpath = .\nlab_metadata = app_schema:metadata\n",
                            files={"app_schema.py": SCHEMA_TEXT, "test_ran.py": test}))
        output = result.stdout + result.stderr
        assert result.returncode == 0, (args, output[-3000:])
        assert "1 passed" in result.stdout and "PytestRemovedIn10Warning" not in output, (args, output[-3000:])
    assert sorted(run_sync(databases.names(admin))) == before
