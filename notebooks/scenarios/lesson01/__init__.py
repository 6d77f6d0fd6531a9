"""Lesson 01's scenario suites: the dev-database purge, the SQLite trap, and the fix."""
