"""lab_sql_before_schema: schemas and extensions made on the template before the schema
(tests/apps/schemas_citext); a failure is one line naming the statement and the setting, and leaves no template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from template_support import APPS, comments_under, drop_prefix, env_for, new_prefix, run

from labsupport.errors import LabError
from labsupport.pytest_plugin import template

APP = APPS / "schemas_citext"


@pytest.fixture
def prefix(lab_server) -> Iterator[str]:
    name = new_prefix("s")
    yield name
    drop_prefix(lab_server.url, name)


def test_statements_come_one_a_line_without_their_semicolons_or_comments() -> None:
    lines = ["CREATE SCHEMA crm;", "", "-- the extension", "  CREATE EXTENSION citext  "]
    assert template.load_statements(lines, "lab_sql_before_schema") == ("CREATE SCHEMA crm", "CREATE EXTENSION citext")


def test_a_module_attribute_names_a_function_that_returns_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(APP))
    assert template.load_statements(["shop_s.db:schema_sql"], "lab_sql_before_schema") == (
        "CREATE SCHEMA billing", "CREATE SCHEMA crm", "CREATE EXTENSION citext")
    with pytest.raises(LabError, match="gave AsyncEngine, not SQL"):
        template.load_statements(["shop_s.db:engine"], "lab_sql_before_schema")


def test_a_function_that_names_the_statements_builds_the_same_schemas(lab_server, prefix: str,
                                                                     tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-o", "lab_sql_before_schema=shop_s.db:schema_sql")
    assert result.ok and result.passed == 5, result.output[-3000:]
    assert "3 SQL statement(s) before the schema + lab_metadata" in result.output


def test_an_extension_the_server_lacks_is_one_line_and_leaves_no_template(lab_server, prefix: str,
                                                                         tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "--lab-keep-template",
                 "-o", 'lab_sql_before_schema=CREATE SCHEMA crm\nCREATE EXTENSION "uuid-ossp"')
    assert result.returncode == 4 and result.tests == [], result.output[-3000:]
    errors = [ln for ln in result.output.splitlines() if ln.startswith("ERROR: ")]
    assert errors == ["ERROR: labsupport workers: lab_sql_before_schema (ini lab_sql_before_schema): statement 2 of 2 "
                      "('CREATE EXTENSION \"uuid-ossp\"') failed on the template: extension \"uuid-ossp\" is not "
                      "available; the template was dropped, fix that statement"], result.output[-3000:]
    assert comments_under(lab_server.url, prefix) == {}


def test_without_the_schemas_create_all_fails_in_one_line_naming_the_setting(lab_server, prefix: str,
                                                                              tmp_path: Path) -> None:
    result = run(APP, env_for(lab_server.url, prefix, tmp_path), "-o", "lab_sql_before_schema=")
    assert result.returncode == 4 and result.tests == [], result.output[-3000:]
    assert ('ERROR: labsupport workers: lab_metadata (ini lab_metadata): building the schema on the template failed: '
            'schema "crm" does not exist; the template was dropped; if the schema needs a PostgreSQL schema or an '
            'extension first, create them with lab_sql_before_schema') in result.output
    assert "INTERNALERROR" not in result.output
    assert comments_under(lab_server.url, prefix) == {}
