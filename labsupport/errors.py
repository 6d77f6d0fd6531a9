"""The lab's one error type: a single line that says what went wrong and what to do."""

from __future__ import annotations

import errno

__all__ = ["LabError", "os_error_line", "os_error_parts"]


class LabError(Exception):
    """A mistake or a failure the user can act on.

    The CLI prints ``str(error)`` on one line and exits with ``exit_code``; nothing
    else in the lab should reach a user as a traceback.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


def os_error_parts(exc: OSError) -> tuple[str, str]:
    """A file the lab needs that it cannot use: which file, and what to do (a full disk is not a
    permission problem). What the CLI, the plugin and the doctor say alike."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{exc.strerror or exc}{where}", "free some space there (or set LAB_HOME to a folder with room)"
    return f"{exc.strerror or exc}{where}", "check LAB_HOME and the permissions there"


def os_error_line(exc: OSError) -> str:
    """``os_error_parts`` in one line."""
    return ": ".join(os_error_parts(exc))
