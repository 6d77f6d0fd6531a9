"""The same small database tests under every fix (see lesson03/small_db_tests.py)."""

from lesson03.small_db_tests import test_small  # noqa: F401 - collected here, under this folder's conftest
