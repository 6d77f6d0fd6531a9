"""Running subprocesses in tests: each in folders of its own, and as another user where a case needs one
(the Binder image's ``jovyan``, another user on root's lab).

``own_folders`` gives a subprocess its own HOME, IPYTHONDIR, JUPYTER_* and TMPDIR: what IPython, Jupyter
and tempfile write lands there and goes with the folder, never in the shared temporary folder or HOME
that another test or another user reads (IPython makes ``$HOME/.ipython``; a root-owned one in a shared
HOME makes another user's IPython warn on stderr).

The venv's interpreter may sit in root's private home (pyenv), so another user may not be able to run
it: then the system's interpreter of the same version, with the venv's packages on PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def python_for(user: pwd.struct_passwd | None) -> str:
    """An interpreter ``user`` can run (ourselves: this one); skip when there is none of this version."""
    if user is None:
        return sys.executable
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            probe = subprocess.run([candidate, "-c", f"import sys; assert sys.version.startswith('{version}')"],
                                   user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/",
                                   env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=False)
        except OSError:  # missing, or in a folder the user cannot enter
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip(f"{user.pw_name} can run no Python {version} here (the venv's interpreter is private)")


def pythonpath(source: Path) -> str:
    """PYTHONPATH that finds the lab's source at ``source`` and the venv's packages with any interpreter."""
    return os.pathsep.join([str(source), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])


# Where each variable points, under the subprocess's own HOME.
_FOLDERS = {
    "HOME": ".",
    "IPYTHONDIR": ".ipython",
    "JUPYTER_CONFIG_DIR": ".jupyter",
    "JUPYTER_DATA_DIR": ".local/share/jupyter",
    "JUPYTER_RUNTIME_DIR": ".local/share/jupyter/runtime",
    "TMPDIR": "tmp",
}


@contextlib.contextmanager
def own_folders(user: pwd.struct_passwd | None = None) -> Iterator[dict[str, str]]:
    """HOME, IPYTHONDIR, JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR, JUPYTER_RUNTIME_DIR and TMPDIR for one
    subprocess (or a few of one test), in a fresh folder removed afterwards with all they wrote.

    Merge the result into the subprocess's environment (``env = {**os.environ, **folders}``). With
    ``user`` the folders are that user's, inside a folder everyone can enter (a test's own tmp_path is
    0700 when the tests run as root).
    """
    root = Path(tempfile.mkdtemp(prefix="lab-own-"))
    try:
        os.chmod(root, 0o755)
        home = root / "home"
        paths = {name: home / relative for name, relative in _FOLDERS.items()}
        for path in paths.values():
            path.mkdir(parents=True, exist_ok=True)
        if user is not None:
            for path in (home, *home.rglob("*")):
                os.chown(path, user.pw_uid, user.pw_gid)
        yield {name: str(path.resolve()) for name, path in paths.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)
