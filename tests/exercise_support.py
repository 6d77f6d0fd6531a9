"""What the lessons' exercise tests share: a lab of the test's own, and the verdict as the learner reads it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest


async def own_lab(server_url: str, lesson_no: str) -> AsyncIterator[object]:
    """A lesson's lab on the lab's server with a prefix of its own; dropped afterwards (a fixture's body)."""
    from labsupport.teaching import lesson

    opened = lesson.open_lab(server_url, f"t{lesson_no}x_{secrets.token_hex(3)}", notebook=lesson_no)
    yield opened
    await opened.cleanup()


VERDICTS = ("Passed:", "Not yet:")  # how every exercise check's verdict line starts


def verdicts(text: str) -> list[str]:
    """The verdict lines in a cell's output, in order."""
    return [line for line in text.splitlines() if line.startswith(VERDICTS)]


def verdict_and_hint(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The verdict and its hint, as the learner reads them (wrapped lines joined)."""
    text = " ".join(capsys.readouterr().out.split())
    verdict = text[text.index(VERDICTS[0]) if VERDICTS[0] in text else text.index(VERDICTS[1]):]
    return verdict, verdict.split("Hint: ", 1)[1] if "Hint: " in verdict else ""
