"""The lab's settings from the environment: ``LAB_HOME`` and ``LAB_DATABASE_URL`` are read here only.

``labsupport.server.current()`` turns them into the one decision of which server is in use; no
other module reads them. The launcher's own knobs (``LAB_PG_BINDIR``, ``LAB_PG_USER``,
``LAB_DATA_IN_MEMORY``) stay with the code they tune. ``import_object`` resolves the
``module:attribute`` values of the pytest plugin's settings (read by ``pytest_plugin.settings_table``).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LabError

__all__ = ["Settings", "project_root", "settings", "import_object", "last_line"]

_MARKERS = ("pyproject.toml", "notebooks")


def project_root() -> Path:
    """The checkout the lab runs from: the folder that holds pyproject.toml and notebooks/."""
    here = Path(__file__).resolve().parent.parent
    if all((here / m).exists() for m in _MARKERS):
        return here
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if all((candidate / m).exists() for m in _MARKERS):
            return candidate
    return cwd


@dataclass(frozen=True)
class Settings:
    """The lab's configuration; ``source`` notes say where each value came from."""

    home: Path
    home_from: str
    external_url: str | None
    root: Path

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def build(self) -> Path:
        return self.root / "build"


def settings() -> Settings:
    """Read the environment now (not at import time), so tests and notebooks can change it."""
    root = project_root()
    home_env = os.environ.get("LAB_HOME")
    if home_env:
        home, home_from = Path(home_env).expanduser().resolve(), "LAB_HOME"
    else:
        home, home_from = root / ".lab", "default"
    url = os.environ.get("LAB_DATABASE_URL") or None
    return Settings(home=home, home_from=home_from, external_url=url, root=root)


def import_object(spec: str, what: str, example: str, hint: str = "") -> Any:
    """The object a ``module:attribute.path`` setting names, or a LabError naming the setting."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise LabError(f"{what} {spec!r} is not module:attribute, e.g. {example}")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise LabError(f"{what} {spec!r}: cannot import {module_name} ({exc}){hint}") from None
    except Exception as exc:  # noqa: BLE001 - the module's own code raised on import: its last line, not a traceback
        raise LabError(f"{what} {spec!r}: importing {module_name} raised {last_line(exc)}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LabError(f"{what} {spec!r}: {module_name} has no attribute {attr!r}") from None
    return obj


def last_line(exc: BaseException) -> str:
    """What a traceback's last line says: ``RuntimeError: no DATABASE_URL``."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1].strip()}" if lines else type(exc).__name__
