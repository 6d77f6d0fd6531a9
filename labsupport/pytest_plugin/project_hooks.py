"""The project's part of the plugin's hooks: the report header lines that describe the run, and
lab_engine's choice of pool once the tests are known.

``hooks`` calls these functions in every run. The header says which configuration file pytest
read (and, in one line, when a ``pytest.ini`` hides pyproject.toml's pytest table), where the
app and its dependency come from (``lab_app``, ``lab_session_dependency`` ...: ``settings_table``),
and which engine ``lab_engine`` is. Under pytest-xdist the controller collects no tests: each
worker puts its choice on its first report, and the controller corrects the header's line once.
"""

from __future__ import annotations

import pytest

from . import engines
from .options import config_file_note, is_worker
from .settings_table import plugin_settings

__all__ = ["header_lines", "choose_for_collected", "collection_lines", "tell_controller", "correct_header"]

_APP_SETTINGS = ("lab_app", "lab_session_dependency", "lab_session_shape", "lab_session_factory_targets",
                 "lab_container_providers")


def _app_line(config: pytest.Config) -> str | None:
    parts = []
    settings = plugin_settings(config)
    for name in _APP_SETTINGS:
        setting = getattr(settings, name)
        if setting.value:
            parts.append(f"{name} {setting.value} ({setting.source})")
    return "labsupport app: " + "; ".join(parts) if parts else None


def header_lines(config: pytest.Config) -> list[str]:
    lines = [f"labsupport config: {config.inipath or 'no configuration file'}"]
    note = config_file_note(config)
    if note:
        lines.append(note)
    app = _app_line(config)
    if app:
        lines.append(app)
    lines.append(engines.choose(config).line())
    return lines


def choose_for_collected(session: pytest.Session) -> None:
    """Each process decides lab_engine's pool from the tests it will run (after -k, -m and other
    deselection), before any fixture runs."""
    session.config.stash[engines.POOLED] = engines.choose(session.config, session.items)


def collection_lines(config: pytest.Config) -> list[str] | None:
    """A second line only when the selected tests changed the header's choice (xdist: see below)."""
    before, after = engines.choose(config), config.stash.get(engines.POOLED, None)
    if after is None or is_worker(config) or after.pooled == before.pooled:
        return None
    return [after.line()]


_TOLD = pytest.StashKey[bool]()
_CORRECTED = pytest.StashKey[bool]()


def tell_controller(item: pytest.Item, report: pytest.TestReport) -> None:
    """An xdist worker puts its lab_engine choice on its first report: the controller collects no
    tests, so this is how it learns what the workers chose."""
    config = item.config
    if is_worker(config) and not config.stash.get(_TOLD, False):
        config.stash[_TOLD] = True
        choice = config.stash.get(engines.POOLED, None)
        if choice is not None:
            setattr(report, "lab_engine_line", choice.line())  # noqa: B010 - extra fields travel with the report
            setattr(report, "lab_engine_pooled", choice.pooled)  # noqa: B010  # a report attribute of the lab's own; xdist carries it to the controller


def correct_header(config: pytest.Config, report: pytest.TestReport) -> None:
    """In the controller of an xdist run: one correction line when the workers' lab_engine choice
    differs from the header's, decided before collection (said once, at the first report that tells)."""
    pooled = getattr(report, "lab_engine_pooled", None)
    if pooled is None or config.stash.get(_CORRECTED, False):
        return
    config.stash[_CORRECTED] = True
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if pooled != engines.choose(config).pooled and reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(f"{getattr(report, 'lab_engine_line', '')}, in every worker (the header's line was decided "
                            "before collection)")
