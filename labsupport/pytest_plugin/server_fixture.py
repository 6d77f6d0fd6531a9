"""Where the plugin's PostgreSQL comes from, and the ``lab_server`` fixture for tests that need it.

The per-worker databases use ``lab_server_url`` (default ``$LAB_SERVER_URL``: a CI service
container, a server of your own), else the lab's own PostgreSQL. The plugin starts that one only
when ``lab_start_server = true`` says so, and never for a run the guard refuses (``guard_hooks``
checks the app's database first); a lab server that already runs (``labsupport up``) is used as
it is. Its state folder is ``$LAB_HOME`` when set, else ``lab_server_home`` (relative to the
configuration file; the lab's own pyproject.toml says ``.lab``), else for a project outside the
lab's checkout a folder of this user's, ``$XDG_STATE_HOME/isolation-lab/<project>-<hash>``
(``~/.local/state`` without XDG_STATE_HOME): a server started there for a run is stopped and its
files removed at the end of that run.

It imports the launcher (``labsupport.server``) when a hook or test first needs it, never at load.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..errors import LabError, os_error_line
from .options import config_folder, expand, fail, is_worker
from .settings_table import plugin_settings

if TYPE_CHECKING:
    from ..server import Lease, ServerInfo

__all__ = ["lab_server", "start_run", "stop_run", "header_lines", "take", "take_for_workers", "give_back", "NO_SERVER"]

_HELD = pytest.StashKey[list["Lease"]]()
_RUN = pytest.StashKey["Lease"]()
_THROWAWAY = pytest.StashKey[Path]()  # the per-user state folder this run chose: removed with its server
NO_SERVER = ("no server for the per-worker databases: set LAB_SERVER_URL (or lab_server_url) to a PostgreSQL "
             "superuser URL, e.g. a CI service container; or set lab_start_server = true to have the plugin start "
             "the lab's PostgreSQL for this run (stopped and removed at its end); or start it with 'labsupport up'")


def _lab_checkout() -> Path | None:
    """The lab's own checkout, when labsupport runs from one (not from an installed copy)."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir() else None


def state_home(config: pytest.Config) -> tuple[Path, bool] | None:
    """The lab server's state folder for this run, and whether it is a throwaway one of this user's;
    None where the launcher's own default holds ($LAB_HOME, a parent's server, a suite inside the lab's checkout)."""
    if os.environ.get("LAB_HOME", "").strip() or os.environ.get("LAB_SERVER_USE", "").strip():
        return None  # the user's folder, or a parent's use of its server covers this run (a nested pytest)
    setting = plugin_settings(config).lab_server_home
    if setting.value:
        return (config_folder(config) / expand(setting.value, "lab_server_home", setting.source)).resolve(), False
    checkout, root = _lab_checkout(), config.rootpath.resolve()
    if checkout is not None and root.is_relative_to(checkout):
        return None
    state = Path(os.environ.get("XDG_STATE_HOME", "").strip() or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return state / "isolation-lab" / f"{root.name}-{digest}", True


def _use_home(config: pytest.Config) -> None:
    """Point LAB_HOME at this run's state folder before the launcher reads it (the workers inherit it)."""
    from ..settings import settings

    chosen = state_home(config)
    if chosen is None or chosen[0] == settings().home:
        return
    home, throwaway = chosen
    os.environ["LAB_HOME"] = str(home)  # the launcher makes the folder when it starts a server there
    if throwaway:
        config.stash[_THROWAWAY] = home


def _one_line(exc: BaseException) -> str:
    """A failure of the lab's own making as the CLI says it (an OSError: which file, and where to look)."""
    return f"labsupport: {os_error_line(exc) if isinstance(exc, OSError) else exc}"


def held(config: pytest.Config) -> list[Lease]:
    """The uses of the server this process's run holds (the run's, ``lab_server``'s, lesson 04's)."""
    return config.stash.setdefault(_HELD, [])


def take(config: pytest.Config) -> Lease:
    """A use of the server for this run, until ``give_back``: the server stays up while this run needs it."""
    from .. import server

    _use_home(config)
    lease = server.acquire()
    held(config).append(lease)
    return lease


def give_back(config: pytest.Config, lease: Lease) -> None:
    """End a use ``take`` took; the last one to end stops the server if a use started it."""
    from .. import server

    if lease in held(config):
        held(config).remove(lease)
    try:
        stopped = server.release(lease)
        throwaway = config.stash.get(_THROWAWAY, None)
        if stopped and throwaway is not None and Path(os.environ.get("LAB_HOME", "")) == throwaway:
            server.current().destroy()  # its data, also in /dev/shm, and its socket folder
            shutil.rmtree(throwaway, ignore_errors=True)
    except (LabError, OSError) as exc:  # the run is over: say why the server was left running
        import sys

        print(f"{_one_line(exc)} (the lab's server was left running)", file=sys.stderr)


def take_for_workers(config: pytest.Config) -> Lease:
    """The lab's server for the per-worker databases when no lab_server_url names one: used if it
    runs, started only with lab_start_server = true; else a LabError that says what to set."""
    from .. import server
    from .guard_hooks import refuse_early

    refuse_early(config)
    _use_home(config)
    if not plugin_settings(config).lab_start_server and server.status() is None:
        raise LabError(NO_SERVER)
    return take(config)


def _starts_server(config: pytest.Config) -> bool:
    return not is_worker(config) and plugin_settings(config).lab_start_server


def start_run(session: pytest.Session) -> None:
    """``lab_start_server = true``: the controller takes its use of the server at the session's start,
    before any test or worker. A run the guard refuses starts nothing; a bad input (a URL, LAB_HOME, a
    data folder, someone else's lab ...) ends the run before it starts: one line on stderr and exit
    status 2, as ``labsupport`` says it, not an INTERNALERROR."""
    config = session.config
    if not _starts_server(config) or config.option.collectonly:
        return
    from .guard_hooks import refuse_early

    refuse_early(config)
    capture = config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            config.stash[_RUN] = take(config)  # its one line about reaped leftovers reaches the terminal
    except (LabError, OSError) as exc:
        pytest.exit(_one_line(exc), returncode=LabError.exit_code)


def header_lines(config: pytest.Config) -> list[str]:
    """With ``lab_start_server = true``: which server, and whether this run started it."""
    if not _starts_server(config):
        return []
    from .. import server

    info = server.status()
    if info is None:
        return ["labsupport: server not running"]
    started_here = any(lease.started for lease in held(config))  # the run's own use, or lesson 04's
    started = "started for this run" if started_here else "already running"
    return [f"labsupport: PostgreSQL {info.version} from {info.source} ({started})"]


def stop_run(config: pytest.Config) -> None:
    """End the use ``start_run`` took (the workers, which it covers, are gone by now)."""
    lease = config.stash.get(_RUN, None)
    if lease is not None:
        del config.stash[_RUN]
        give_back(config, lease)


@pytest.fixture(scope="session")
def lab_server(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """The server in use: LAB_DATABASE_URL's, or the lab's own (started if needed).

    The fixture holds a use of it for the session (none of its own in an xdist worker or a
    nested run that its parent's use covers): the last use to end stops it if a use started it.
    """
    try:
        lease = take(request.config)
    except (LabError, OSError) as exc:  # a bad input: the test errors with the one line, no traceback
        fail(_one_line(exc))
    yield lease.info
    give_back(request.config, lease)
