"""labsupport.pytest_plugin.settings_table: every setting declared once, registered once, read once, in one order.

The registration and the precedence are checked in real pytest runs of a folder of the test's
own; the documentation's table is checked against the registry.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest
from users_support import own_folders

import labsupport.pytest_plugin
from labsupport.pytest_plugin.settings_table import TABLE, PluginSettings, markdown_table, plugin_settings
from labsupport.teaching import lesson

ROOT = Path(__file__).resolve().parents[2]
_OPTION = re.compile(r"^\s+(--lab-[a-z-]+)")
_INI = re.compile(r"^\s+(lab_[a-z_]+) \(")


def _help(folder: Path) -> list[str]:
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    with own_folders() as folders:
        result = lesson.run_suite(folder, "--help", env=folders, scenarios=False)
    assert result.returncode == 0, result.output[-2000:]
    return result.output.splitlines()


def test_every_setting_of_the_table_is_registered_once_and_nothing_else(tmp_path: Path) -> None:
    lines = _help(tmp_path)
    flags = [m.group(1) for line in lines if (m := _OPTION.match(line))]
    inis = [m.group(1) for line in lines if (m := _INI.match(line))]
    assert sorted(flags) == sorted(spec.flag_name for spec in TABLE if spec.flag)
    assert sorted(inis) == sorted(spec.name for spec in TABLE if spec.ini)
    assert len(set(flags)) == len(flags) and len(set(inis)) == len(inis)


def test_only_the_hooks_module_implements_hooks() -> None:
    package = labsupport.pytest_plugin
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        hooks = [name for name, obj in vars(module).items() if name.startswith("pytest_") and callable(obj)]
        if hooks:
            found[info.name] = hooks
    hooks_module = importlib.import_module(f"{package.__name__}.hooks")
    assert list(found) == ["hooks"], found
    assert package.pytest_plugins == [hooks_module.__name__]


CONFTEST = """
    import json
    import os

    from labsupport.pytest_plugin.settings_table import plugin_settings


    def pytest_sessionstart(session):
        settings = plugin_settings(session.config)
        names = ("lab_db_prefix", "lab_server_url", "lab_database_url", "lab_migrations_drift", "lab_sql_before_schema")
        shown = {name: [getattr(settings, name).value, getattr(settings, name).source] for name in names}
        shown["lab_keep_template"] = settings.lab_keep_template
        with open(os.environ["SETTINGS_OUT"], "w", encoding="utf-8") as out:
            json.dump(shown, out)
"""
INI = """\
    [pytest]
    lab_db_prefix = from_ini
    lab_server_url = postgresql://ini@localhost/postgres
    lab_sql_before_schema =
        CREATE SCHEMA a
        CREATE SCHEMA b
    lab_keep_template = true
"""


def test_a_setting_is_the_flag_else_the_ini_option_else_the_environment_else_the_default(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(textwrap.dedent(INI), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST).lstrip(), encoding="utf-8")
    out = tmp_path / "settings.json"
    env = {"SETTINGS_OUT": str(out), "LAB_DB_PREFIX": "from_env", "LAB_SERVER_URL": "postgresql://env@localhost/x",
           "LAB_TEST_DATABASE_URL": "postgresql://env@localhost/x_test"}
    with own_folders() as folders:
        result = lesson.run_suite(tmp_path, "--collect-only", "--lab-db-prefix", "from_flag", env={**folders, **env},
                                  scenarios=False)
    assert result.returncode in (0, 5), result.output[-2000:]  # 5: no tests collected
    shown = json.loads(out.read_text(encoding="utf-8"))
    assert shown == {
        "lab_db_prefix": ["from_flag", "--lab-db-prefix"],
        "lab_server_url": ["postgresql://ini@localhost/postgres", "ini lab_server_url"],
        "lab_database_url": ["postgresql://env@localhost/x_test", "env LAB_TEST_DATABASE_URL"],
        "lab_migrations_drift": ["fail", "default"],
        "lab_sql_before_schema": ["CREATE SCHEMA a\nCREATE SCHEMA b", "ini lab_sql_before_schema"],
        "lab_keep_template": True,
    }


def test_the_settings_are_one_frozen_object_built_once(request: pytest.FixtureRequest) -> None:
    settings = plugin_settings(request.config)
    assert plugin_settings(request.config) is settings
    assert settings.lab_start_server is True  # the lab's own pyproject.toml says so
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lab_start_server = False  # type: ignore[misc]  # the point: it cannot be assigned
    assert [f.name for f in dataclasses.fields(PluginSettings)] == [spec.name for spec in TABLE]


def test_the_documents_table_of_settings_is_the_registrys() -> None:
    text = (ROOT / "docs" / "plugin.md").read_text(encoding="utf-8")
    assert markdown_table() in text, ("docs/plugin.md's table of settings differs from settings_table.TABLE: replace "
                                      "it with the output of: python -c 'from labsupport.pytest_plugin.settings_table "
                                      "import markdown_table; print(markdown_table())'")


SETS_THE_URL = """\
    import os


    def pytest_sessionstart(session):  # a conftest that makes its test database here would set it here too
        os.environ["LAB_TEST_DATABASE_URL"] = os.environ["LATER_URL"]
"""


def test_a_variable_a_conftest_sets_at_the_sessions_start_is_read_and_checked(lab_server, tmp_path: Path) -> None:
    from labsupport import urls

    (tmp_path / "conftest.py").write_text(textwrap.dedent(SETS_THE_URL), encoding="utf-8")
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    with own_folders() as folders:
        result = lesson.run_suite(tmp_path, env={**folders, "LATER_URL": urls.with_database(lab_server.url, "postgres")},
                                  scenarios=False)
    assert result.returncode == 4, result.output[-2000:]  # the guard: 'postgres' is not a test database
    assert "labsupport guard: LAB_TEST_DATABASE_URL" in result.output and "'postgres'" in result.output


def test_a_bool_setting_that_is_not_true_or_false_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nlab_run_lifespan = ture\n", encoding="utf-8")
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    with own_folders() as folders:
        result = lesson.run_suite(tmp_path, env=folders, scenarios=False)
    assert result.returncode == 4, result.output[-2000:]
    assert "labsupport: lab_run_lifespan takes true or false" in result.output
    assert "Traceback" not in result.output and "INTERNALERROR" not in result.output
