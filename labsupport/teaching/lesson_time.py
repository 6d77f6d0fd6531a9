"""How long a lesson takes a self-paced learner, by one model, so the time a notebook states is
computed, never typed by hand.

The model: prose (markdown and the text of outputs) read at ``WORDS_PER_MINUTE``, code shown (code
cells' sources, and fenced code in outputs, which is what ``lesson.show_file`` displays) read at
``CODE_LINES_PER_MINUTE``, plus the cells' recorded run times (from an executed copy), plus each
exercise's budget, declared by a markdown heading that ends in ``(N min)``.

A lesson's *core* is everything before its first ``## Going further`` heading; the *whole* is every cell.
The notebook states both in its first markdown cell, in exactly the form ``statement`` writes::

    Time: core about 12 min, whole about 18 min

``lesson_time(notebook, executed)`` computes both; ``stated(notebook)`` reads the statement back;
``stamp(notebook, executed)`` writes the model's figures into the statement; ``stated_times()`` is the
table of every lesson's statement that the index notebook shows.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import LabError

__all__ = ["WORDS_PER_MINUTE", "CODE_LINES_PER_MINUTE", "Reading", "LessonTime", "lesson_time", "stated",
           "statement", "stamp", "STATED", "stated_times"]

WORDS_PER_MINUTE = 180
CODE_LINES_PER_MINUTE = 60

GOING_FURTHER = re.compile(r"^##\s+Going further\b", re.IGNORECASE | re.MULTILINE)
EXERCISE = re.compile(r"^#{1,6}\s.*\((\d+)\s*min\)\s*$", re.MULTILINE)
STATED = re.compile(r"Time: core about (\d+) min, whole about (\d+) min")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_HIDDEN_TAGS = ("injected-parameters",)  # papermill's cell: the learner never sees it


@dataclass(frozen=True)
class Reading:
    """What a part of a lesson asks of the learner: words and code lines to read, seconds of
    cells running, minutes of exercises."""

    words: int = 0
    code_lines: int = 0
    run_seconds: float = 0.0
    exercise_minutes: int = 0

    @property
    def minutes(self) -> float:
        return (self.words / WORDS_PER_MINUTE + self.code_lines / CODE_LINES_PER_MINUTE
                + self.run_seconds / 60 + self.exercise_minutes)

    def __add__(self, other: Reading) -> Reading:
        return Reading(self.words + other.words, self.code_lines + other.code_lines,
                       self.run_seconds + other.run_seconds, self.exercise_minutes + other.exercise_minutes)

    def describe(self) -> str:
        return (f"about {self.minutes:.1f} min: {self.words} words, {self.code_lines} code lines, "
                f"{self.run_seconds:.0f} s running, {self.exercise_minutes} min of exercises")


@dataclass(frozen=True)
class LessonTime:
    """A lesson's core (before "## Going further") and whole, by the model."""

    core: Reading
    whole: Reading

    @property
    def core_minutes(self) -> int:
        return _round(self.core.minutes)

    @property
    def whole_minutes(self) -> int:
        return _round(self.whole.minutes)


def _round(minutes: float) -> int:
    """Whole minutes, halves up, at least 1: "about 0 min" says nothing to a learner."""
    return max(1, math.floor(minutes + 0.5))


def statement(time: LessonTime) -> str:
    """The line a notebook's first markdown cell carries (``STATED`` reads it back)."""
    return f"Time: core about {time.core_minutes} min, whole about {time.whole_minutes} min"


def _load(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LabError(f"cannot read the notebook {path}: {exc}") from None


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def _words(text: str) -> int:
    text = _TAG.sub(" ", _LINK_TARGET.sub("] ", text))
    return sum(1 for w in text.split() if re.search(r"\w", w))


def _lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def _split_fenced(text: str) -> tuple[int, int]:
    """(words outside fenced code, lines inside it) of a markdown text."""
    code = sum(_lines(block) for block in _FENCE.findall(text))
    return _words(_FENCE.sub(" ", text)), code


def _output_reading(outputs: list[dict[str, Any]]) -> Reading:
    words = code = 0
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            words += _words(_text(out.get("text", "")))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            text = _text(data.get("text/markdown") or data.get("text/plain") or "")
            w, c = _split_fenced(text)
            words, code = words + w, code + c
        # error outputs: a lesson that passes its tests has none worth a reading budget
    return Reading(words=words, code_lines=code)


def _run_seconds(cell: dict[str, Any]) -> float:
    """The cell's recorded run time: papermill's ``duration``, else nbclient's execution timestamps."""
    meta = cell.get("metadata", {})
    duration = meta.get("papermill", {}).get("duration")
    if isinstance(duration, (int, float)):
        return float(duration)
    timing = meta.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if start and end:
        try:
            return max(0.0, (datetime.fromisoformat(end.replace("Z", "+00:00"))
                             - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds())
        except ValueError:
            return 0.0
    return 0.0


def _cell_reading(cell: dict[str, Any], executed: dict[str, Any] | None) -> Reading:
    source = _text(cell.get("source", ""))
    if cell.get("cell_type") == "markdown":
        words, code = _split_fenced(source)
        budget = sum(int(m) for m in EXERCISE.findall(source))
        return Reading(words=words, code_lines=code, exercise_minutes=budget)
    if cell.get("cell_type") != "code":
        return Reading()
    reading = Reading(code_lines=_lines(source))
    if executed is not None:
        reading = reading + _output_reading(executed.get("outputs", [])) + Reading(run_seconds=_run_seconds(executed))
    return reading


def _visible(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in cells if not set(c.get("metadata", {}).get("tags", [])) & set(_HIDDEN_TAGS)]


def _pair(cells: list[dict[str, Any]], executed: list[dict[str, Any]] | None) -> list[dict[str, Any] | None]:
    """Each cell's executed twin: by cell id, else by position (same number of cells, same type)."""
    if executed is None:
        return [None] * len(cells)
    ran = _visible(executed)
    by_id = {c["id"]: c for c in ran if c.get("id")}
    if all(c.get("id") in by_id for c in cells):
        return [by_id[c["id"]] for c in cells]
    if len(ran) == len(cells) and all(a.get("cell_type") == b.get("cell_type") for a, b in zip(cells, ran, strict=True)):
        return list(ran)
    raise LabError("the executed copy is not of this notebook (its cells differ): execute the notebook again")


def lesson_time(notebook: str | os.PathLike[str], executed: str | os.PathLike[str] | None = None) -> LessonTime:
    """The core and the whole of ``notebook`` by the model, with outputs and run times from ``executed``
    (a papermill or nbclient execution of the same notebook; without it, sources and exercises only)."""
    cells = _visible(_load(notebook).get("cells", []))
    twins = _pair(cells, _load(executed).get("cells", []) if executed is not None else None)
    core = whole = Reading()
    in_core = True
    for cell, twin in zip(cells, twins, strict=True):
        if cell.get("cell_type") == "markdown" and GOING_FURTHER.search(_text(cell.get("source", ""))):
            in_core = False
        reading = _cell_reading(cell, twin)
        whole = whole + reading
        if in_core:
            core = core + reading
    return LessonTime(core=core, whole=whole)


def _first_markdown(nb: dict[str, Any]) -> dict[str, Any]:
    cell = next((c for c in nb.get("cells", []) if c.get("cell_type") == "markdown"), None)
    if cell is None:
        raise LabError("the notebook has no markdown cell to state its time in")
    return cell


def stated(notebook: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(core, whole) minutes as the notebook's first markdown cell states them, or None if it does not."""
    found = STATED.search(_text(_first_markdown(_load(notebook)).get("source", "")))
    return (int(found.group(1)), int(found.group(2))) if found else None


def stamp(notebook: str | os.PathLike[str], executed: str | os.PathLike[str] | None = None) -> str:
    """Write the model's figures into the notebook's statement (which must be there already, in the
    form ``statement`` writes, in the first markdown cell); returns the new line. Only that line changes."""
    path = Path(notebook)
    nb = _load(path)
    cell = _first_markdown(nb)
    source = _text(cell.get("source", ""))
    if not STATED.search(source):
        raise LabError(f"{path.name}: its first markdown cell has no line like "
                       "'Time: core about N min, whole about M min' to update: add one")
    line = statement(lesson_time(path, executed))
    cell["source"] = STATED.sub(line, source, count=1).splitlines(keepends=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return line


def _title(nb: dict[str, Any], fallback: str) -> str:
    heading = re.search(r"^#\s+(.+)$", _text(_first_markdown(nb).get("source", "")), re.MULTILINE)
    return heading.group(1).strip() if heading else fallback


def stated_times(folder: str | os.PathLike[str] | None = None) -> list[tuple[str, str, str]]:
    """(lesson, core, whole) as each lesson of ``folder`` (default: the lab's notebooks) states them, each
    lesson a Markdown link, and a last row for the whole lab: the index shows it, so no figure is typed twice."""
    from .notebooks import discover

    rows, core, whole = [], 0, 0
    for path in discover(folder=Path(folder) if folder is not None else None):
        said = stated(path)
        title = _title(_load(path), path.stem)
        if said is None:
            rows.append((f"[{title}]({path.name})", "not stated", "not stated"))
            continue
        core, whole = core + said[0], whole + said[1]
        rows.append((f"[{title}]({path.name})", f"{said[0]} min", f"{said[1]} min"))
    floor = "at least " if any(row[1] == "not stated" for row in rows) else ""
    rows.append(("**the whole lab**", f"**{floor}{core} min**", f"**{floor}{whole} min**"))
    return rows
