"""Lesson 02's exercises: a prediction of which connection sees which row (``check.visibility``) and
the design task, the dependency override that puts the app's requests on the test's connection
(``check.design_task``)."""
