"""What every piece of the plugin shares: what a setting's value names, one worker check, one failure.

The settings themselves are read once, by ``settings_table``. A value may say ``env:VARIABLE``
(read that variable instead, at use); a URL setting may also name ``module:attribute`` (a URL,
a callable returning one, or an engine). An unset ``env:`` variable or a bad ``module:attribute``
(no such module or attribute, a module that raises while it is imported, a callable that
raises) is a LabError of one line that names the setting.

Misuse in a fixture ends the test with ``fail`` (one line, no traceback), and a LabError inside
``failing_on_lab_error`` does the same; in a hook the caller turns the LabError into
``pytest.UsageError``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from ..errors import LabError
from ..settings import import_object, last_line

__all__ = ["fixture_seen_by", "expand", "resolve_url", "resolve_object", "import_hint", "config_file_note", "config_folder", "is_worker",
           "worker_id", "fail", "failing_on_lab_error", "need"]


def expand(value: str, what: str, where: str = "") -> str:
    """``env:VARIABLE`` becomes that variable's value; anything else is returned as it is."""
    if not value.startswith("env:"):
        return value
    var = value[4:]
    found = os.environ.get(var, "").strip()
    if not found:
        shown = f" ({where})" if where else ""
        raise LabError(f"{what} comes from env:{var}{shown}, but {var} is not set: set it, or change that setting")
    return found


def resolve_url(source: str, what: str = "lab_guard_url", where: str = "", hint: str = "") -> str:
    """The URL a source names: ``env:VAR``, ``pkg.module:attr`` (URL, callable, engine or settings
    object with a URL field), or a URL itself."""
    from sqlalchemy.engine import URL

    source = expand(source, what, where)
    if "://" in source:
        return source
    if ":" not in source:
        raise LabError(f"{what} {source!r} is not env:VARIABLE, module:attribute or a URL")
    obj: Any = import_object(source, what, "app.db:engine", hint=hint)
    engine = getattr(obj, "sync_engine", obj)
    if hasattr(engine, "url") and hasattr(engine, "dialect"):
        obj = engine.url
    elif callable(obj) and not isinstance(obj, URL):
        try:
            obj = obj()
        except Exception as exc:  # noqa: BLE001 - the app's own code: its last line, not a traceback
            raise LabError(f"{what} {source!r}: calling it raised {last_line(exc)}") from None
    if isinstance(obj, URL):
        return obj.render_as_string(hide_password=False)
    if obj is not None and not isinstance(obj, str) and "://" in str(obj):  # pydantic's PostgresDsn, yarl.URL ...
        obj = str(obj)
    if isinstance(obj, str) and obj:
        return obj
    raise LabError(f"{what} {source!r} gave {type(obj).__name__}, not a database URL or an engine")


def resolve_object(source: str, what: str, example: str, where: str = "", hint: str = "") -> Any:
    """The object a ``module:attribute`` setting names (after ``env:VAR``), or a one-line LabError."""
    return import_object(expand(source, what, where), what, example, hint=hint)


def import_hint(config: pytest.Config) -> str:
    """The end of an import failure's message: where pytest imports from and the option that changes it."""
    file = f" and its config file is {config.inipath}" if config.inipath else ""
    return (f"; pytest's rootdir is {config.rootpath}{file}: make your project importable from there with "
            "the pythonpath ini option (pythonpath = .) or by installing it (pip install -e .)")


def _pyproject_has_pytest(path: Any) -> str:
    import tomllib

    try:
        tool = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("pytest", {})
    except (OSError, ValueError):
        return ""
    if "ini_options" in tool:
        return "[tool.pytest.ini_options]"
    return "[tool.pytest]" if tool else ""


def config_file_note(config: pytest.Config) -> str | None:
    """One line when pytest chose another file while pyproject.toml beside it also has pytest settings."""
    inipath = config.inipath
    if inipath is None or inipath.name == "pyproject.toml":
        return None
    pyproject = inipath.parent / "pyproject.toml"
    table = _pyproject_has_pytest(pyproject) if pyproject.is_file() else ""
    if not table:
        return None
    return (f"labsupport: pytest reads its settings from {inipath.name} only; the {table} table of "
            f"{pyproject} is ignored: move those settings into {inipath.name}, or delete {inipath.name}")


def config_folder(config: pytest.Config) -> Path:
    """Where a relative ``path`` setting starts: the configuration file's folder, else pytest's rootdir."""
    return config.inipath.parent if config.inipath else config.rootpath


def is_worker(config: pytest.Config) -> bool:
    """True inside a pytest-xdist worker process; the controller and a plain run are not workers."""
    return hasattr(config, "workerinput")


def worker_id(config: pytest.Config) -> str:
    """pytest-xdist's name for this process: ``gw0``, ``gw1`` ... or ``master`` outside a worker."""
    if not is_worker(config):
        return "master"
    return str(config.workerinput["workerid"])  # type: ignore[attr-defined]  # xdist sets it on a worker


def fail(message: str) -> NoReturn:
    """End the test with one line and no traceback: the fix is in the message, not in our code."""
    pytest.fail(message, pytrace=False)


@contextlib.contextmanager
def failing_on_lab_error() -> Iterator[None]:
    """A LabError raised inside ends the test with its one line, ``labsupport: <the error>``."""
    try:
        yield
    except LabError as exc:
        fail(f"labsupport: {exc}")


def need(module: str, package: str, what: str) -> Any:
    """Import an optional package a fixture needs, or fail the test naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        fail(f"labsupport: {what} needs {package}, which is not installed: pip install {package}")


def fixture_seen_by(node: pytest.Item, name: str) -> pytest.FixtureDef[Any] | None:
    """The definition of fixture ``name`` that ``node`` gets: the most specific one visible from it (a
    conftest.py, module or class override before the plugin's own), or None if there is none.

    pytest registers its fixture manager as the plugin ``funcmanage``; its ``getfixturedefs`` answers
    before any fixture runs, without an underscore attribute of pytest's."""
    manager = node.config.pluginmanager.get_plugin("funcmanage")
    defs = manager.getfixturedefs(name, node) if manager is not None else None
    return defs[-1] if defs else None
