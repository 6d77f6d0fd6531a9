"""The fixed suite's set-up, unchanged: a database per worker, a rollback per test."""

from lesson04.fixed.conftest import *  # noqa: F403 - the same fixtures
