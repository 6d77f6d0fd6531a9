"""The lab's own server dying in the middle of a run: one line, and the run stops (``hooks`` calls these).

Without this, every later test that touches the database fails with a connection traceback
(thousands of lines for the lab's own suite). When a test fails and the lab's server that the
run uses (``labsupport.server.died``: a use of this process or of its parent) no longer runs,
that failure is reported as the one line, the session stops after the current test as ``-x``
stops it (an xdist worker passes the stop on to the controller, whose other workers' failures
meanwhile get the same line), and the terminal summary says it once. A failure with the server alive is left as it is. Nothing here runs until a
test fails, and the check reads only files and /proc (no connection).
"""

from __future__ import annotations

import pytest

__all__ = ["mark_if_died", "summary_line"]

_DIED = pytest.StashKey[str]()


def _died(config: pytest.Config) -> str:
    """The one line once the server is known to be gone ('' while it runs or the run does not use it)."""
    line = config.stash.get(_DIED, "")
    if not line:
        from .. import server

        try:
            line = server.died() or ""
        except Exception:  # noqa: BLE001 - the check must never add a failure of its own
            line = ""
        if line:
            config.stash[_DIED] = line
    return line


def mark_if_died(item: pytest.Item, report: pytest.TestReport) -> None:
    """A failed test's report becomes the one line when the server is gone, and the session stops."""
    if report.failed:
        line = _died(item.config)
        if line:
            report.longrepr = line
            report.sections = []  # captured output: more of the same connection errors
            item.session.shouldfail = line  # as -x does: exit status 1, "tests failed"


def summary_line(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The one line once more at the end of the summary, when failures came from the server's death."""
    failed = terminalreporter.stats.get("failed") or terminalreporter.stats.get("error")
    line = _died(config) if failed else ""
    if not line and failed:  # under xdist the workers saw it: their reports carry the line
        line = next((str(r.longrepr) for r in failed if str(getattr(r, "longrepr", "")).startswith(
            "the lab's PostgreSQL stopped during the run")), "")
    if line:
        terminalreporter.write_line(f"labsupport: {line}", red=True, bold=True)
