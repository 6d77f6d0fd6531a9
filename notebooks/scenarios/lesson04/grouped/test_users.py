"""buggy/test_users.py unchanged, plus the marker the second team used to keep database tests together."""

import pytest
from lesson04.buggy.test_users import *  # noqa: F403 - the same tests

pytestmark = pytest.mark.xdist_group("db_integration")
