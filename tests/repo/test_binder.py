"""Binder: the repository builds with repo2docker as is, and the lab works under that image's conditions.

1. ``jupyter-repo2docker --no-build`` (no Docker daemon needed) renders the Dockerfile Binder would build
   from a copy of this checkout, with the user BinderHub passes (``--user-id 1000 --user-name jovyan``):
   it must install from environment.yml, with a Python that pyproject.toml's requires-python allows,
   as the image's non-root user.
2. Such an image, simulated: an unprivileged user (``nobody`` when these tests run as root) whose fresh
   HOME holds the checkout (repo2docker copies the repository into HOME), with ``LAB_DATA_IN_MEMORY=0``
   (Docker's /dev/shm is 64 MiB, so the lab keeps its files on disk there): ``labsupport doctor`` passes
   and says the files are on disk, and ``labsupport run`` runs lesson 01.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from users_support import python_for, pythonpath

from labsupport.server.users import AsUser

REPO = Path(__file__).resolve().parents[2]
REQUIRES_PYTHON = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])
BINDER_UID, BINDER_USER = 1000, "jovyan"  # what BinderHub passes to repo2docker


def _copy_checkout(dest: Path) -> Path:
    """The working tree's tracked and new (not ignored) files, as a fresh clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def dockerfile() -> tuple[str, str]:
    """(the Dockerfile repo2docker renders for this repository, its log)."""
    pytest.importorskip("repo2docker", reason="jupyter-repo2docker is in the dev extra: run make")
    with tempfile.TemporaryDirectory(prefix="lab-r2d-") as tmp:
        repo = _copy_checkout(Path(tmp) / "repo")
        result = subprocess.run(
            [sys.executable, "-m", "repo2docker", "--no-build", "--debug", "--user-id", str(BINDER_UID),
             "--user-name", BINDER_USER, str(repo)],
            capture_output=True, text=True, cwd=tmp, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    return result.stdout, result.stderr + result.stdout


def _instructions(text: str) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, rest), continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_repo2docker_uses_the_conda_buildpack_with_the_required_python(dockerfile: tuple[str, str]) -> None:
    text, log = dockerfile
    assert "Python version unspecified" not in log, "environment.yml's python line is not one repo2docker reads"
    built = re.search(r"Building conda environment for python=(\d+\.\d+)", log)
    assert built, log[-2000:]
    assert REQUIRES_PYTHON.contains(built.group(1) + ".0"), f"the image gets Python {built.group(1)}"
    # The build scripts' names are escaped ("-2e" for ".", "-2d" for "-"): unescape them first.
    unescaped = re.sub(r"-([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), text)
    locks = set(re.findall(r"environment\.py-(\d+\.\d+)-linux-[^.]+\.lock", unescaped))
    assert locks == {built.group(1)}, f"the base environment's lock is for Python {locks}"


def test_repo2docker_installs_the_lab_from_environment_yml_as_the_non_root_user(dockerfile: tuple[str, str]) -> None:
    text, _ = dockerfile
    user, install_user, copied_as = None, None, None
    for keyword, rest in _instructions(text):
        if keyword == "USER":
            user = rest
        elif keyword == "COPY" and re.search(r"\bsrc/ \$\{REPO_DIR\}/$", rest):
            chown = re.search(r"--chown=(\S+)", rest)
            assert chown, f"the Dockerfile copies the repository without --chown: {rest}"
            copied_as = chown.group(1)
        elif keyword == "RUN" and 'env update -p ${NB_PYTHON_PREFIX} --file "environment.yml"' in rest:
            install_user = user
    assert install_user == "${NB_USER}", "environment.yml is not installed by the image's user"
    assert user == "${NB_USER}", f"the image ends as {user}, not its user"
    # The checkout (where `pip install -e .` writes and the lab keeps .lab/) belongs to that user.
    assert copied_as == f"{BINDER_UID}:{BINDER_UID}", f"the repository is copied as {copied_as}"
    # No binder/ folder hides the root environment.yml (repo2docker would then ignore the root's files).
    assert not (REPO / "binder").exists() and not (REPO / ".binder").exists()


# ---------------------------------------------------------------- the image's conditions, simulated


def _unprivileged() -> pwd.struct_passwd | None:
    """Who plays the image's user: ``nobody`` as root; None (ourselves) when already unprivileged."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to run the lab as")


@pytest.fixture(scope="module")
def image_home() -> Iterator[tuple[Path, pwd.struct_passwd | None]]:
    """A fresh HOME holding a committed copy of the checkout, owned by the unprivileged user."""
    user = _unprivileged()
    home = Path(tempfile.mkdtemp(prefix="lab-binder-home-"))
    try:
        _copy_checkout(home)
        git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org", "-c", "init.defaultBranch=main"]
        for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the image's checkout"]):
            subprocess.run([*git, *args], cwd=home, capture_output=True, check=True)
        if user is not None:
            for path in (home, *home.rglob("*")):
                os.lchown(path, user.pw_uid, user.pw_gid)
        yield home, user
    finally:
        _run(home, user, "down")
        shutil.rmtree(home, ignore_errors=True)


def _run(home: Path, user: pwd.struct_passwd | None, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home), "LAB_HOME": str(home / ".lab"),
           "LAB_DATA_IN_MEMORY": "0", "PYTHONPATH": pythonpath(home), "LANG": "C.UTF-8"}
    kwargs: AsUser = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    return subprocess.run([python_for(user), "-m", "labsupport", *args], cwd=home, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False, **kwargs)


def test_doctor_passes_in_the_image_and_says_the_files_are_on_disk(image_home: tuple[Path, pwd.struct_passwd | None]) -> None:
    home, user = image_home
    result = _run(home, user, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[FAIL]" not in result.stdout
    line = next((x for x in result.stdout.splitlines() if "cluster files:" in x), None)
    assert line is not None, result.stdout
    assert f"on disk ({home / '.lab' / 'data'}; LAB_DATA_IN_MEMORY=0): a template clone took " in line
    assert re.search(r"took \d+ ms$", line), line
    # The lab came from the image's checkout, not from this machine's editable install.
    assert (home / ".lab" / "postgres.log").exists()
    if user is not None:
        assert (home / ".lab").stat().st_uid == user.pw_uid


@pytest.mark.slow  # a whole lesson as another user: make test-slow (CI) runs it
def test_lesson_01_runs_in_the_image(image_home: tuple[Path, pwd.struct_passwd | None]) -> None:
    home, user = image_home
    result = _run(home, user, "run", "01_dev_database_purge", timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (home / "build" / "notebooks" / "01_dev_database_purge.ipynb").exists(), result.stdout
    assert (home / "build" / "index.html").exists()


def test_the_readme_badge_launches_binder_on_lesson_00() -> None:
    badge = re.search(r"\(https://mybinder\.org/v2/gh/([^/]+/[^/]+)/[^?)]+\?urlpath=lab/tree/([^)]+)\)",
                      (REPO / "README.md").read_text())
    assert badge, "the README has no 'launch on Binder' badge opening JupyterLab"
    assert (REPO / badge.group(2)).is_file(), f"the badge opens {badge.group(2)}, which does not exist"
    assert badge.group(2) == "notebooks/00_start_here.ipynb"
