"""Lesson 02's scenario suites: the shared-factory visibility bug, its naive cure, and the fix."""
