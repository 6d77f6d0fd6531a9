"""The ``lab_server`` fixture: the server in use for tests that need the lab's PostgreSQL.

It imports the launcher (``labsupport.server``) when a test first asks for it, never at load.
"""

from __future__ import annotations

import contextlib

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..errors import LabError
from .options import is_worker

if TYPE_CHECKING:
    from ..server import ServerInfo

__all__ = ["lab_server", "start_for_run", "stop_run"]


def _one_line(exc: BaseException) -> str:
    """A failure of the lab's own making as the CLI says it (an OSError: which file, and where to look)."""
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"labsupport: {exc.strerror or exc}{where}: check LAB_HOME and the permissions there"
    return f"labsupport: {exc}"


def start_for_run(config: pytest.Config) -> bool:
    """``lab_start_server = true``: start the server before any test or worker; True when started here.

    A bad input (a URL, LAB_HOME, a data folder, someone else's lab ...) ends the run before it
    starts: one line on stderr and exit status 2, as ``labsupport`` says it, not an INTERNALERROR.
    """
    from .. import server

    capture = config.pluginmanager.getplugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            return server.up()[1]  # its one line about reaped leftovers reaches the terminal
    except (LabError, OSError) as exc:
        failure = _one_line(exc)
    pytest.exit(failure, returncode=LabError.exit_code)


def stop_run() -> None:
    from .. import server

    try:
        server.down()
    except (LabError, OSError) as exc:  # the run is over: say why the server was left running
        import sys

        print(f"{_one_line(exc)} (the lab's server was left running)", file=sys.stderr)


@pytest.fixture(scope="session")
def lab_server(request: pytest.FixtureRequest) -> Iterator[ServerInfo]:
    """The server in use: LAB_DATABASE_URL's, or the lab's own (started if needed).

    Without xdist it is stopped afterwards if this fixture started it. An xdist worker
    never stops it: the others may still be using it (set ``lab_start_server = true``
    to have the controlling process start it before the workers and stop it after them).
    """
    from .. import server

    failure = ""
    try:
        info = server.status()
        started = False
        if info is None:
            info, started = server.up()
    except (LabError, OSError) as exc:  # a bad input: the test errors with the one line, no traceback
        failure = _one_line(exc)
    if failure:
        pytest.fail(failure, pytrace=False)
    yield info
    if started and not is_worker(request.config):  # a worker never stops it: the others may still use it
        server.down()
