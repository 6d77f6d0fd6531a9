"""A cell that must fail: papermill ignores the ``raises-exception`` tag, so the cell catches the error
itself, checks it, shows it readably, and fails loudly if the bug did not reproduce."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .display import wrap

__all__ = ["ExpectedFailure", "expect_failure"]


@dataclass
class ExpectedFailure:
    """What ``expect_failure`` caught: the exception, its type name and its one-line message."""

    error: BaseException | None = None

    @property
    def kind(self) -> str:
        return type(self.error).__name__ if self.error else ""

    @property
    def message(self) -> str:
        return str(self.error).strip().splitlines()[0] if self.error and str(self.error).strip() else ""


@contextlib.contextmanager
def expect_failure(kind: type[BaseException] | tuple[type[BaseException], ...],
                   match: str | None = None) -> Iterator[ExpectedFailure]:
    """A cell that must fail: catch the error, check its type and message, and show it readably.

    papermill ignores the ``raises-exception`` tag, so a cell that shows an expected
    error has to catch it itself and fail loudly if the error did not happen.
    """
    caught = ExpectedFailure()
    names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
    try:
        yield caught
    except kind as exc:
        caught.error = exc
    if caught.error is None:
        raise AssertionError(f"expected {names}, but the code ran without error: the bug did not reproduce")
    text = str(caught.error)
    if match is not None and not re.search(match, text):
        raise AssertionError(f"expected {names} matching {match!r}, got: {caught.kind}: {text}")
    print("As expected, it failed:\n" + wrap(f"  {caught.kind}: {caught.message}", indent="    "))
