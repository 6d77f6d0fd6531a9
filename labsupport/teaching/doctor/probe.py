"""A pytest plugin that ``labsupport doctor --parallel`` loads into the suite it checks (``-p``).

It writes structured evidence, so that the doctor reads data instead of matching report text:

- every test's JUnit XML record gets the properties ``labsupport.worker`` (``gw0`` ... or
  ``master``) and ``labsupport.database`` (the per-worker database the test used; empty when it
  used none);
- the controlling process writes a JSON file to ``$LAB_DOCTOR_REPORT`` at session start: whether
  per-worker databases are configured and the run's prefix, template and server, ``lab_metadata``
  and where it was set, the registered markers, and the number of xdist workers.

Without ``$LAB_DOCTOR_REPORT`` it only adds the two properties.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path

import pytest

from ...pytest_plugin import options, workers
from ...pytest_plugin.settings_table import plugin_settings

REPORT_ENV = "LAB_DOCTOR_REPORT"
WORKER, DATABASE = "labsupport.worker", "labsupport.database"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    try:
        return (yield)
    finally:  # after the fixtures were set up (or failed to be): record who ran the test, and where
        database = getattr(item, "funcargs", {}).get("lab_worker_database", "")
        item.user_properties.append((WORKER, options.worker_id(item.config)))
        item.user_properties.append((DATABASE, str(database or "")))


@pytest.hookimpl(trylast=True)  # after the worker plugin made the run's template (tryfirst)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    target = os.environ.get(REPORT_ENV)
    if not target or options.is_worker(config):
        return
    info = workers.run_info(config)
    metadata = plugin_settings(config).lab_metadata
    markers = [line.split(":")[0].split("(")[0].strip() for line in config.getini("markers")]
    report = {
        "configured": info is not None,
        "run": info.as_dict() if info else None,
        "lab_metadata": metadata.value,
        "lab_metadata_from": metadata.source,
        "markers": markers,
        "xdist_workers": int(getattr(config.option, "numprocesses", None) or 0),
    }
    Path(target).write_text(json.dumps(report), encoding="utf-8")
