"""The baseline: as many async tests as the measured suite, without a database."""

from lesson03.small_db_tests import test_no_db  # noqa: F401 - collected here
