"""What a lesson notebook uses, under one name: ``from labsupport.teaching import lesson``.

Each job lives in a module of its own; this module gathers what the notebooks, their scenario files and
the exercises' checks call, so a cell reads ``lesson.run_suite(...)`` whichever module holds it:

    lab                 the lesson's server and databases (``Lab``, ``open_lab``), and its clean-up
    outcomes            outcomes recorded in the notebook's own output, read back from the executed copy
    expected_failures   a cell that must fail, checked and shown readably
    suites              a scenario's test suite run for real in a nested pytest, read back test by test
    cells               what a cell needs from earlier cells: a defined name, the parameters cell's values
    display             what the learner reads: wrapped text, exercise verdicts, tables, scenario files

Importing it puts ``notebooks/scenarios`` on ``sys.path`` (``lab``), so the demo app imports as ``flashcards``.
"""

from __future__ import annotations

from ..errors import LabError  # re-exported for lesson code
from .cells import MissingStep, needs, parameter
from .display import Verdict, setup_ipytest, shorten, show_file, show_table, verdict, wrap
from .expected_failures import ExpectedFailure, expect_failure
from .lab import Lab, clean_up, current_lab, on_clean_up, open_lab
from .outcomes import OUTCOME_MIME, read_outcomes, record
from .suites import (
    SCENARIO_PLUGINS,
    SCENARIOS,
    SuiteResult,
    TestOutcome,
    clean_env,
    plugin_args,
    pytest_command,
    run_suite,
)

__all__ = [
    "OUTCOME_MIME", "Lab", "open_lab", "record", "read_outcomes", "expect_failure", "ExpectedFailure",
    "SuiteResult", "TestOutcome", "run_suite", "clean_env", "setup_ipytest", "show_file", "show_table",
    "SCENARIOS", "SCENARIO_PLUGINS", "plugin_args", "pytest_command", "wrap", "shorten", "needs", "MissingStep",
    "Verdict", "verdict", "current_lab", "parameter", "on_clean_up", "clean_up", "LabError",
]
