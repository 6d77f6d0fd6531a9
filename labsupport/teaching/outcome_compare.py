"""``make test-latest``'s verdict: which packages the newest releases change, and which lessons' outcomes.

constraints.txt keeps a workshop from meeting a new release on the morning of the session; this module
says what those releases would do. ``make test-latest`` runs every notebook twice, with the pinned
versions and in a venv with the newest releases ``pyproject.toml`` allows, and calls ``main`` on the two
output folders. The comparison is on what each lesson recorded (``lesson.record``), made comparable first:
a float is a measurement (milliseconds, a speedup) and only its presence is compared, never its value;
in strings, what differs between any two runs (database prefixes, paths and line numbers, task names,
addresses, durations) is blanked, a list of strings is a set (races report their errors in any order), and
a dict keyed by xdist workers is its values, largest first (which worker gets a group is chance).
What remains (counts, booleans, error types and messages) is the lesson's story, and must match.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from .outcomes import read_outcomes

__all__ = ["LessonRun", "LessonDiff", "comparable", "compare_runs", "package_changes", "read_pins", "read_run",
           "report", "main"]

MEASURED = "<measured>"
_WORKER = re.compile(r"gw\d+")  # an xdist worker's id
_VARYING = [  # what two runs of the same lesson never share, blanked before comparing
    (re.compile(r"\b(?:lab|t)\d\d_[0-9a-f]{4,6}(?=_|\b)"), "<prefix>"),  # each run's database prefix
    (re.compile(r"(?<![\w/])(?:/[\w.@+-]+){2,}/?(?::\d+)?"), "<path>"),  # file paths and a line number; not 3/3
    (re.compile(r"\bTask-\d+"), "Task-<n>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x<addr>"),
    (re.compile(r"\b\d+\.\d+\s?(?:s|ms|sec|seconds)\b"), "<duration>"),  # "in 0.12s"; not versions, not "100 ms/test"
]


@dataclass
class LessonRun:
    """One executed notebook: what it recorded, and the first error a cell raised (empty if none)."""

    name: str
    outcomes: dict[str, Any]
    error: str = ""


@dataclass
class LessonDiff:
    """How the latest run of one lesson differs from the pinned run: outcome by outcome."""

    name: str
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key: (pinned, latest); missing = "<missing>"
    pinned_error: str = ""
    latest_error: str = ""
    missing_run: str = ""  # "pinned" or "latest" when that run has no executed copy of the lesson

    @property
    def same(self) -> bool:
        return not (self.changed or self.latest_error or self.pinned_error or self.missing_run)


def _first_error(notebook: Path) -> str:
    """The first error output of an executed notebook, as ``cell N: Name: message``; empty if none."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return "unreadable executed notebook"
    for i, cell in enumerate(cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                first = (out.get("evalue") or "").strip().splitlines()
                return f"cell {i}: {out.get('ename')}: {first[0] if first else ''}"
    return ""


def read_run(folder: Path) -> dict[str, LessonRun]:
    """Every executed lesson in ``folder`` (``labsupport run --out``'s folder, or its ``notebooks/``)."""
    folder = Path(folder)
    notebooks = folder / "notebooks" if (folder / "notebooks").is_dir() else folder
    runs = {}
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        try:
            outcomes = read_outcomes(path)
        except (OSError, ValueError):
            outcomes = {}
        runs[path.stem] = LessonRun(path.stem, outcomes, _first_error(path))
    return runs


def comparable(value: Any) -> Any:
    """``value`` with what varies from run to run blanked: floats become ``MEASURED``, strings lose
    prefixes, paths, task names, addresses and durations, lists of strings become sorted sets."""
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return MEASURED
    if isinstance(value, str):
        for pattern, blank in _VARYING:
            value = pattern.sub(blank, value)
        return value
    if isinstance(value, Mapping):
        if value and all(_WORKER.fullmatch(str(k)) for k in value):  # which xdist worker got what is chance
            return {"<per worker, largest first>": sorted((comparable(v) for v in value.values()), reverse=True)}
        return {comparable(k): comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [comparable(v) for v in value]
        if all(isinstance(v, str) for v in items):
            return sorted(set(items))
        return items
    return value


_MISSING = "<missing>"


def compare_runs(pinned: Mapping[str, LessonRun], latest: Mapping[str, LessonRun]) -> list[LessonDiff]:
    """One ``LessonDiff`` per lesson in either run, in lesson order."""
    diffs = []
    for name in sorted(set(pinned) | set(latest)):
        diff = LessonDiff(name)
        a, b = pinned.get(name), latest.get(name)
        if a is None or b is None:
            diff.missing_run = "pinned" if a is None else "latest"
            diffs.append(diff)
            continue
        diff.pinned_error, diff.latest_error = a.error, b.error
        for key in list(dict.fromkeys([*a.outcomes, *b.outcomes])):
            old = comparable(a.outcomes[key]) if key in a.outcomes else _MISSING
            new = comparable(b.outcomes[key]) if key in b.outcomes else _MISSING
            if old != new:
                diff.changed[key] = (old, new)
        diffs.append(diff)
    return diffs


def read_pins(constraints: Path) -> dict[str, str]:
    """constraints.txt as {canonical name: version}."""
    return _name_versions(Path(constraints).read_text(encoding="utf-8").splitlines())


def _name_versions(lines: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        name, sep, version = line.partition("==")
        if sep and name and version:
            found[canonicalize_name(name.strip())] = version.strip()
    return found


def package_changes(pins: Mapping[str, str], installed: Mapping[str, str]) -> list[tuple[str, str | None, str | None]]:
    """(name, pinned, latest) for each package whose version differs; None where one side lacks it."""
    return [(name, pins.get(name), installed.get(name)) for name in sorted(set(pins) | set(installed))
            if pins.get(name) != installed.get(name)]


def _frozen(python: str) -> dict[str, str]:
    out = subprocess.run([python, "-m", "pip", "freeze", "--exclude-editable"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"test-latest: cannot list the packages of {python}: {out.stderr.strip().splitlines()[-1:]}")
    return _name_versions(out.stdout.splitlines())


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 160 else text[:157] + "..."


def report(changes: Sequence[tuple[str, str | None, str | None]], diffs: Sequence[LessonDiff]) -> tuple[list[str], bool]:
    """The report's lines, and whether an outcome changed (or the latest run failed where the pinned did not)."""
    lines = ["packages that differ from constraints.txt (pinned -> latest):"]
    newer = [(n, a, b) for n, a, b in changes if a is not None and b is not None]
    added = [(n, b) for n, a, b in changes if a is None]
    absent = [n for n, a, b in changes if b is None]
    lines += [f"  {n}: {a} -> {b}" for n, a, b in newer] or ["  none: every package the latest install has is at "
                                                             "its pinned version"]
    if added:
        lines.append("  new with the latest releases (not in constraints.txt): "
                     + ", ".join(f"{n}=={b}" for n, b in added))
    if absent:
        lines.append("  pinned but not installed by the latest install (the bench extra, or dropped by a "
                     "newer release): " + ", ".join(absent))
    lines.append("lesson outcomes, latest against pinned:")
    changed = False
    for d in diffs:
        if d.missing_run:
            lines.append(f"  {d.name}: no executed copy in the {d.missing_run} run")
            changed = True
            continue
        if d.pinned_error:
            lines.append(f"  {d.name}: the PINNED run failed ({d.pinned_error}): outcomes compared as far as it got")
        if d.latest_error and d.latest_error != d.pinned_error:
            lines.append(f"  {d.name}: FAILED with the latest releases: {d.latest_error}")
            changed = True
        if d.changed:
            changed = True
            lines.append(f"  {d.name}: {len(d.changed)} outcome(s) changed")
            lines += [f"      {key}: {_short(old)} -> {_short(new)}" for key, (old, new) in d.changed.items()]
        elif not (d.latest_error and d.latest_error != d.pinned_error):
            lines.append(f"  {d.name}: same outcomes")
    lines.append("verdict: " + ("outcomes CHANGED with the latest releases" if changed else
                                "every lesson recorded the same outcomes with the latest releases"))
    return lines, changed


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report; exit 1 when an outcome changed, 2 when there is nothing to compare."""
    parser = argparse.ArgumentParser(prog="python -m labsupport.teaching.outcome_compare",
                                     description="Compare the lessons' outcomes of a pinned and a latest run.")
    parser.add_argument("pinned", type=Path, help="labsupport run --out folder of the run with constraints.txt")
    parser.add_argument("latest", type=Path, help="the same for the run with the newest releases")
    parser.add_argument("--constraints", type=Path, default=Path("constraints.txt"))
    parser.add_argument("--python", required=True, help="the latest venv's python, whose packages are listed")
    parser.add_argument("--write", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    pinned, latest = read_run(args.pinned), read_run(args.latest)
    if not pinned:
        print(f"test-latest: no executed notebooks in {args.pinned}: the pinned run did not run", file=sys.stderr)
        return 2
    lines, changed = report(package_changes(read_pins(args.constraints), _frozen(args.python)),
                            compare_runs(pinned, latest))
    print("\n".join(lines))
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
