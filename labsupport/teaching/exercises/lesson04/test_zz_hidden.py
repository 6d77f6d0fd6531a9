"""Lesson 04, exercise 2: the check's further tests (run after the visible ones)."""

import re

import pytest
from conftest import answer  # type: ignore[attr-defined]  # the exercise folder's conftest.py; mypy sees tests/'s

from labsupport import databases

BRANCHES = [
    "main", "dev", "fix/a-b", "fix/a_b", "Fix/A-B", "release/2.0", "release/2.0.1", "x" * 70,
    "feature/" + "a" * 50 + "-one", "feature/" + "a" * 50 + "-two", "feature/JIRA-1234-remember-the-last-deck",
    "dependabot/pip/sqlalchemy-2.0.36", "héllo/wörld", "-leading-dash", "trailing-dash-", "a//b",
]
PROJECTS = ["shop", "nb04_a1b2c3_ci", "p" * 16]


@pytest.mark.parametrize("project", PROJECTS)
def test_every_branch_gets_a_valid_prefix_of_its_own(project):
    prefixes = {branch: answer.ci_prefix(project, branch) for branch in BRANCHES}
    for branch, prefix in prefixes.items():
        try:
            databases.validate_prefix(prefix, f"ci_prefix({project!r}, {branch!r}) gave")
        except Exception as exc:  # noqa: BLE001 - the lab's own rule, in the check's words
            raise AssertionError(f"not a valid prefix: {exc}") from None
        assert prefix.startswith(project + "_"), f"{prefix!r} does not start with {project + '_'!r}"
    same = [(a, b) for a in BRANCHES for b in BRANCHES if a < b and prefixes[a] == prefixes[b]]
    assert not same, f"two branches would share a prefix: {same[0]} -> {prefixes[same[0][0]]!r}"


def test_the_branch_is_readable_in_the_prefix():
    for branch in ("feature/JIRA-1234-remember-the-last-deck", "release/2.0"):
        start = re.sub(r"[^a-z0-9]+", "_", branch.lower())[:7]
        assert start in answer.ci_prefix("shop", branch), f"{answer.ci_prefix('shop', branch)!r}: where is {branch!r}?"
