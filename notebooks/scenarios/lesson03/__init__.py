"""Lesson 03's scenario: "Future attached to a different loop", reproduced, traced, fixed three ways.

buggy/             the team's suite: the app's global engine initialised once behind a flag
fixes/<name>/      the same small DB tests (small_db_tests.py) under each fix, and a no-DB baseline
trap_scope/        scope="session" is not loop_scope="session"
predict/           exercise 1: three engines whose tests the learner predicts, then traces
exercise/          exercise 2: the learner's suite to fix (conftest.py); the reference answers and the
                   hidden tests are in labsupport.teaching.exercises (folder "lesson03")
loop_trace.py      a pytest plugin that logs which loop each test ran in and which connection it got
timing.py          a pytest plugin that writes each test's duration, unrounded, for the measurement
support.py         what the notebook calls: databases, runs, the trace table, the measurement, the chart

Every suite folder has its own pytest.ini and takes its database from FLASHCARDS_DATABASE_URL.
"""
