"""The check's further tests, not shown in the notebook (read them once your function passes)."""

import pytest

from conftest import answer
from labsupport import databases

WORKERS = ["master", *(f"gw{i}" for i in range(100))]


@pytest.mark.parametrize("prefix", ["lab04_x9", "t04s_ab12cd_fx", "q" * 40])
def test_names_for_a_hundred_workers(prefix):
    names = [answer.database_name(prefix, w) for w in WORKERS]
    assert len(set(names)) == len(names), "two workers would share a database"
    for worker, name in zip(WORKERS, names):
        assert name.startswith(prefix + "_") and worker in name, f"{name!r}: start with the prefix, include the worker id"
        assert name.endswith("_test"), f"{name!r} must end in _test"
        assert len(name.encode()) <= 63, f"{name!r}: PostgreSQL would cut it to 63 bytes"
        assert name != f"{prefix}_template_test", f"{name!r} is the run's template"
        try:
            databases.validate_name(name)
        except Exception as exc:  # noqa: BLE001 - the lab's own rule, said in the check's words
            raise AssertionError(f"{name!r} is not a valid database name: {exc}") from None
