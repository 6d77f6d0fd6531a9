"""The lab's one error type: a single line that says what went wrong and what to do."""

from __future__ import annotations

__all__ = ["LabError"]


class LabError(Exception):
    """A mistake or a failure the user can act on.

    The CLI prints ``str(error)`` on one line and exits with ``exit_code``; nothing
    else in the lab should reach a user as a traceback.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
