"""A pytest plugin for the design task's check: notes what FLASHCARDS_DATABASE_URL said when the app
module was imported, so the check can hold a conftest.py to "set the settings, then import the app".

Loaded with ``-p`` before any conftest.py, it puts a finder first on ``sys.meta_path``; the first time
``flashcards.api`` is imported it writes the variable's value (or nothing, if unset) to the file named
by ``LESSON01_IMPORT_REPORT``. It changes nothing else: the module is found and run as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path
from types import ModuleType

WATCHED = "flashcards.api"
ENV_VAR = "FLASHCARDS_DATABASE_URL"
REPORT_ENV = "LESSON01_IMPORT_REPORT"


class _Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != WATCHED:
            return None
        sys.meta_path.remove(self)  # once is enough, and the real finders do the finding
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _Noting(spec.loader)
        return spec


class _Noting(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        report = os.environ.get(REPORT_ENV)
        if report:
            Path(report).write_text(os.environ.get(ENV_VAR, ""), encoding="utf-8")
        self._loader.exec_module(module)


if os.environ.get(REPORT_ENV) and WATCHED not in sys.modules:
    sys.meta_path.insert(0, _Watch())
