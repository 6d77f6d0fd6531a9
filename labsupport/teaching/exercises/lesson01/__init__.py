"""Lesson 01's exercises: the prediction about a URL without a database name (``check.nameless_url``)
and the design task, a conftest.py that makes the suite safe in the developer's shell (``check.design_task``)."""
