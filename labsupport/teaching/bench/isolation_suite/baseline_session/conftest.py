"""Baseline for the fast path: the same no-DB async tests, run in the session loop as lab_fast's are."""
