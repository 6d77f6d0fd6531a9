"""buggy/test_decks.py, unchanged: only the set-up in conftest.py and pytest.ini is new."""

from lesson04.buggy.test_decks import *  # noqa: F403 - the same tests
