"""The ``lab_server`` fixture: the server in use for tests that need the lab's PostgreSQL.

It imports the launcher (``labsupport.server``) when a test first asks for it, never at load.
"""

from __future__ import annotations

import contextlib

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..errors import LabError

if TYPE_CHECKING:
    from ..server import Lease, ServerInfo

__all__ = ["lab_server", "start_for_run", "stop_run", "take", "give_back", "held"]

_HELD = pytest.StashKey[list["Lease"]]()
_RUN = pytest.StashKey["Lease"]()


def _one_line(exc: BaseException) -> str:
    """A failure of the lab's own making as the CLI says it (an OSError: which file, and where to look)."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"labsupport: {exc.strerror or exc}{where}: check LAB_HOME and the permissions there"
    return f"labsupport: {exc}"


def held(config: pytest.Config) -> list[Lease]:
    """The uses of the server this process's run holds (the run's, ``lab_server``'s, lesson 04's)."""
    return config.stash.setdefault(_HELD, [])


def take(config: pytest.Config) -> Lease:
    """A use of the server for this run, until ``give_back``: the server stays up while this run needs it."""
    from .. import server

    lease = server.acquire()
    held(config).append(lease)
    return lease


def give_back(config: pytest.Config, lease: Lease) -> None:
    """End a use ``take`` took; the last one to end stops the server if a use started it."""
    from .. import server

    if lease in held(config):
        held(config).remove(lease)
    try:
        server.release(lease)
    except (LabError, OSError) as exc:  # the run is over: say why the server was left running
        import sys

        print(f"{_one_line(exc)} (the lab's server was left running)", file=sys.stderr)


def start_for_run(config: pytest.Config) -> bool:
    """``lab_start_server = true``: a use of the server before any test or worker; True when started here.

    A bad input (a URL, LAB_HOME, a data folder, someone else's lab ...) ends the run before it
    starts: one line on stderr and exit status 2, as ``labsupport`` says it, not an INTERNALERROR.
    """
    capture = config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            lease = take(config)  # its one line about reaped leftovers reaches the terminal
        config.stash[_RUN] = lease
        return lease.started
    except (LabError, OSError) as exc:
        failure = _one_line(exc)
    pytest.exit(failure, returncode=LabError.exit_code)


def stop_run(config: pytest.Config) -> None:
    """End the use ``start_for_run`` took (the workers, which it covers, are gone by now)."""
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
    failure = ""
    try:
        lease = take(request.config)
    except (LabError, OSError) as exc:  # a bad input: the test errors with the one line, no traceback
        failure = _one_line(exc)
    if failure:
        pytest.fail(failure, pytrace=False)
    yield lease.info
    give_back(request.config, lease)
