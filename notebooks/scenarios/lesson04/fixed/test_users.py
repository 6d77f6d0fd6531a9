"""buggy/test_users.py, unchanged: only the set-up in conftest.py and pytest.ini is new."""

from lesson04.buggy.test_users import *  # noqa: F403 - the same tests
