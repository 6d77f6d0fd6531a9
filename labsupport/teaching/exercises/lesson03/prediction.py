"""Lesson 03, exercise 1: the reference prediction (what the trace shows on every run)."""

PREDICTION = {"plain_engine": [2], "session_loop_engine": [1, 2], "engine_per_test": []}
