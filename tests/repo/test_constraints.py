"""constraints.txt pins every package the lab installs, and make installs with it.

A workshop must not meet a new release on the morning of the session: ``make constraints`` writes the file
from a fresh venv, ``make`` and environment.yml (so the Binder image) install with ``-c constraints.txt``.
These tests check the environment they run in: every installed package pinned there at the installed
version, and every requirement of pyproject.toml satisfied by its pin.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
NOT_PINNED = {"pip", "setuptools", "wheel", canonicalize_name(PROJECT["name"])}  # pip freeze leaves these out


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not name==version"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _environment() -> dict[str, str]:
    """This interpreter's marker environment, as the plain mapping ``Marker.evaluate`` takes."""
    return {name: str(value) for name, value in default_environment().items()}


def _generated_on() -> str:
    header = (ROOT / "constraints.txt").read_text().splitlines()[0]
    found = re.search(r"\(Python [\d.]+ (\w+) \w+\)", header)
    assert found, f"constraints.txt's first line does not say where it was generated: {header!r}"
    return found.group(1)


def _only_elsewhere() -> set[str]:
    """Packages installed here only because a marker is true on this platform and false on the one
    constraints.txt was generated on (appnope on macOS): pip freeze there could not list them."""
    here = _environment()
    there = {**here, "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
    names: set[str] = set()
    for dist in importlib.metadata.distributions():
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or "extra" in str(req.marker):
                continue
            if req.marker.evaluate(here) and not req.marker.evaluate(there):
                names.add(canonicalize_name(req.name))
    return names


def _what_the_lab_installs() -> set[str]:
    """The lab with all its extras and everything those require, as installed here: a tool a developer
    added to the venv by hand (ruff, say) is not the lab's to pin."""
    todo = [Requirement(r) for r in (*PROJECT["dependencies"], *(r for e in PROJECT["optional-dependencies"].values() for r in e))]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                sub.marker = None
                todo.append(sub)
    return seen


def test_every_installed_package_is_pinned_at_its_installed_version() -> None:
    pins = _pins()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    wrong = {n: f"{v} installed, {pins[n]} pinned" for n, v in installed.items() if n in pins and pins[n] != v}
    assert not wrong, f"installed versions differ from constraints.txt (run make, or make constraints): {wrong}"
    unpinned = (_what_the_lab_installs() & set(installed)) - set(pins) - NOT_PINNED
    if sys.platform != "linux" or _generated_on() != "Linux":
        unpinned -= _only_elsewhere()
    assert not unpinned, f"installed but not in constraints.txt (run make constraints): {sorted(unpinned)}"


def test_every_requirement_of_pyproject_is_pinned_within_its_range() -> None:
    pins = _pins()
    requirements = [*PROJECT["dependencies"], *(r for extra in PROJECT["optional-dependencies"].values() for r in extra)]
    linux = {**_environment(), "sys_platform": "linux", "platform_system": "Linux",
             "platform_machine": "x86_64", "python_version": "3.11", "python_full_version": "3.11.0"}
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(linux):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not in constraints.txt: run make constraints"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req.specifier}: run make constraints"


def test_make_and_environment_yml_install_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if re.search(r"-m pip install .*-e \"", line)]
    assert installs, "the Makefile installs nothing"
    generating = [line for line in installs if "$(CVENV)" in line]  # make constraints: unpinned on purpose
    assert generating, "the Makefile has no 'constraints' target that installs afresh"
    trying = [line for line in installs if "$(LVENV)" in line]  # make test-latest: the newest releases, on purpose
    assert trying and all("-c constraints.txt" not in line for line in trying), "make test-latest installs pinned"
    generating += trying
    for line in set(installs) - set(generating):
        assert "-c constraints.txt" in line, f"the Makefile installs without the constraints: {line.strip()}"
    assert re.search(r"^constraints:", makefile, re.M)
    assert "-c constraints.txt" in (ROOT / "environment.yml").read_text()
