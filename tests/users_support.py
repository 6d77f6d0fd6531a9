"""Running the lab as another user in tests (the Binder image's ``jovyan``, another user on root's lab).

The venv's interpreter may sit in root's private home (pyenv), so another user may not be able to run
it: then the system's interpreter of the same version, with the venv's packages on PYTHONPATH.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import sysconfig
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
