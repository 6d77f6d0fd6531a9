"""The documents speak to their readers about what is true now, the README starts with the learner, and
CONTRIBUTING.md's layout table names every module of the package."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's own history: its issue numbers and a session's clock. An upstream tracker's reference
# ("pytest-xdist issue #1386") names a fact a reader can look up, and stays.
HISTORY = re.compile(r"\b[Ii]ssues? \d+\b|\bthis\smorning\b|\bin\sthe\srun\sbefore\b")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    skip = {"CHANGELOG.md", "constraints.txt"}
    paths = [ROOT / p for p in out.splitlines() if Path(p).name not in skip and not p.endswith(".json")]
    return [p for p in paths if p.is_file() and p.suffix in {".py", ".md", ".ipynb", ".toml", ".yml", ".yaml", ".txt", ""}]


def test_no_tracked_file_speaks_of_the_projects_history() -> None:
    hits = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if HISTORY.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "say what is true now, not how it came about:\n" + "\n".join(hits)


def test_the_history_pattern_catches_what_it_is_for() -> None:
    issue = "Issue"  # the examples are built here, so this file does not match itself
    assert HISTORY.search(f"{issue} 12's targets") and HISTORY.search(f"as {issue.lower()}s 3 and 4 said")
    assert not HISTORY.search("pytest-xdist issue #1386") and not HISTORY.search("issues show")


def test_the_readme_is_short_and_starts_with_the_learner() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    words = len(re.sub(r"<!--.*?-->", "", text, flags=re.S).split())
    assert words <= 1900, f"README.md has {words} words: move maintainer material to docs/ or CONTRIBUTING.md"
    first = re.search(r"^## (.+)$", text, re.M)
    assert first and "learn" in first.group(1).lower(), first
    start = text[first.end():].split("\n## ", 1)[0]
    assert "make lab" in start and "00_start_here" in start


def test_the_readme_links_resolve() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def _layout_table() -> list[str]:
    """The first cells of CONTRIBUTING.md's module table: paths under labsupport/, a folder ending in /."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = text.split("| module | what it does |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def test_the_layout_table_names_every_module_and_nothing_gone() -> None:
    named = _layout_table()
    folders = tuple(name for name in named if name.endswith("/"))
    package = ROOT / "labsupport"
    modules = [p.relative_to(package).as_posix() for p in package.rglob("*.py") if "__pycache__" not in p.parts]
    unnamed = sorted(m for m in modules if m not in named and not m.startswith(folders))
    assert not unnamed, f"CONTRIBUTING.md's layout table does not name: {', '.join(unnamed)}"
    gone = [name for name in named if not (package / name).exists()]
    assert not gone, f"CONTRIBUTING.md's layout table names what is not in labsupport/: {', '.join(gone)}"
