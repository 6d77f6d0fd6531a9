"""What the learner reads below a lesson's cells: text wrapped to the notebook's width, exercise verdicts
with more help on each later try, small tables and scenario files shown with highlighting."""

from __future__ import annotations

import contextlib
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["wrap", "shorten", "Verdict", "verdict", "setup_ipytest", "show_table", "show_file"]


def wrap(text: str, width: int = 96, indent: str = "  ") -> str:
    """``text`` wrapped at word boundaries, each paragraph's later lines indented; nothing is cut."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False,
                                    break_on_hyphens=False) if line.strip() else line
                      for line in str(text).splitlines())


def shorten(text: str, width: int = 160) -> str:
    """At most ``width`` characters, cut at a word boundary and marked with ' [...]' if cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else textwrap.shorten(text, width, placeholder=" [...]")


@dataclass
class Verdict:
    """An exercise check's answer: passed, or what failed and why (one line) and where the lesson shows it."""

    passed: bool
    message: str
    hint: str = ""
    more: str = ""  # shown from the second failing try on

    def lines(self, tries: int = 1) -> list[str]:
        if self.passed:
            return [f"Passed: {self.message}"]
        shown = [f"Not yet: {self.message}"]
        if self.hint:
            shown.append(f"Hint: {self.hint}")
        if self.more and tries >= 2:
            shown.append(f"Still stuck? {self.more}")
        return shown

    def __str__(self) -> str:
        return "\n".join(wrap(line) for line in self.lines())


_tries: dict[str, int] = {}


def verdict(exercise: str, result: Verdict) -> bool:
    """Print an exercise check's verdict, wrapped, with more help after each failing try; returns passed."""
    tries = _tries.get(exercise, 0) + (not result.passed)
    _tries[exercise] = 0 if result.passed else tries
    print("\n".join(wrap(line) for line in result.lines(tries)))
    return result.passed


def setup_ipytest(*addopts: str) -> None:
    """ipytest for async tests in a kernel: its own thread (the kernel runs a loop), failures raise."""
    import ipytest

    ipytest.autoconfig(run_in_thread=True, raise_on_error=True,
                       addopts=["-q", "--color=no", "-p", "no:cacheprovider", *addopts])


def show_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A small Markdown table: easier to read in a notebook than a list of tuples."""
    from IPython.display import Markdown, display

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def show_file(path: str | os.PathLike[str], lines: Sequence[int] | None = None) -> None:
    """Show a scenario file (or some of its lines) with syntax highlighting."""
    from IPython.display import Markdown, display

    shown = Path(path)
    text = shown.read_text(encoding="utf-8")
    if lines:
        all_lines = text.splitlines()
        text = "\n".join(all_lines[lines[0] - 1:lines[-1]])
    with contextlib.suppress(ValueError):  # a learner knows the file from the notebooks folder
        shown = shown.resolve().relative_to(Path.cwd().resolve())
    language = "ini" if shown.suffix in (".ini", ".cfg", ".toml") else "python"
    display(Markdown(f"`{shown.as_posix()}`\n```{language}\n{text}\n```"))
