"""The GitHub Actions workflow runs the README's test command on Linux and macOS with the supported Pythons;
``.ci/run`` runs it three times: as it is, beside someone else's unwritable ``.ipython`` without HOME,
and in reverse order."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from users_support import own_folders

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = (ROOT / ".ci" / "run").read_text()
WORKFLOW = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())


def _readme_test_command() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    commands = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return next(c for c in commands if c.startswith("make test"))


def test_the_workflow_runs_the_readme_test_command_on_every_os_and_python() -> None:
    command = _readme_test_command()
    assert command == "make test"
    job = WORKFLOW["jobs"]["test"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any(re.search(rf"(^|\n){re.escape(command)}\b", run) for run in runs), runs
    matrix = job["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest"}
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert {"3.11", "3.12", "3.13", "3.14"} <= set(matrix["python"])
    assert all(requires.contains(v + ".0") for v in matrix["python"])
    assert job["runs-on"] == "${{ matrix.os }}"


def test_the_workflow_caches_pip_and_uploads_the_notebooks() -> None:
    job = WORKFLOW["jobs"]["test"]
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["cache"] == "pip" and setup["with"]["python-version"] == "${{ matrix.python }}"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"  # a failed notebook's output matters most
    assert set(upload["with"]["path"].split()) == {"build/index.html", "build/notebooks/"}
    # "on" parses as True in YAML 1.1; either way the workflow runs on every push.
    triggers = WORKFLOW.get("on", WORKFLOW.get(True))
    assert "push" in triggers


def test_a_weekly_and_manual_job_runs_make_test_latest() -> None:
    """The newest releases are tried on a schedule, not on every push: a release must not fail a push."""
    triggers = WORKFLOW.get("on", WORKFLOW.get(True))
    assert "workflow_dispatch" in triggers and triggers["schedule"][0]["cron"].split()[4] != "*", triggers
    job = WORKFLOW["jobs"]["latest"]
    assert "schedule" in job["if"] and "workflow_dispatch" in job["if"] and "push" not in job["if"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert any(re.search(r"(^|\n)make test-latest\b", run) for run in runs), runs
    assert re.search(r"^test-latest:", (ROOT / "Makefile").read_text(), re.M), "the Makefile has no test-latest target"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "build/latest/report.txt" in upload["with"]["path"].split()


def _ci_commands() -> list[str]:
    """The commands of ``.ci/run``, one a line, without comments."""
    return [line.split("#")[0].strip() for line in CI_RUN.splitlines() if line.split("#")[0].strip()]


def test_ci_runs_the_suite_beside_an_unwritable_ipython_without_home_and_in_reverse_order() -> None:
    commands = _ci_commands()
    suites = [c for c in commands if re.search(r"\bmake test(\s|$)", c)]
    assert suites[0] == "make test", suites
    hostile = re.fullmatch(r'env -u HOME TMPDIR="\$(\w+)" make test', suites[1])
    assert hostile, suites
    folder = hostile.group(1)
    made = commands.index(f"{folder}=$(mktemp -d)")
    assert commands.index(f'chmod 1777 "${folder}"') > made  # anyone may write there, as in /tmp
    assert commands.index(f'mkdir -m 0755 "${folder}/.ipython"') < commands.index(suites[1])  # there before the run
    assert suites[2] == 'LAB_TEST_ORDER=reverse make test PYTEST_ARGS="--dist loadfile"', suites
    assert commands.index(suites[2]) < commands.index("make test-slow")


def _collected(extra: dict[str, str] | None = None,
               paths: tuple[str, ...] = ("tests/repo/test_ci_workflow.py", "tests/repo/test_environment.py")) -> list[str]:
    """The node ids pytest collects from ``paths`` (two small modules), in the order it would run them."""
    with own_folders() as folders:
        variables = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAB_TEST_ORDER"))}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "-p", "no:randomly",
             "-o", "lab_start_server=false", *paths],
            cwd=ROOT, env=variables | folders | (extra or {}), capture_output=True,
            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_lab_test_order_reverse_runs_the_tests_in_reverse_order() -> None:
    usual = _collected()
    assert len(usual) > 4 and _collected({"LAB_TEST_ORDER": "reverse"}) == usual[::-1]


def test_the_slowest_tests_start_first_in_either_order() -> None:
    """The tests marked ``starts_first`` lead, by rank (the second slowest at place 2: it starts on the second
    worker), whatever the order of the rest."""
    paths = ("tests/test_cli.py", "tests/teaching/doctor/test_parallel_doctor.py", "tests/lessons/test_lesson04.py")
    for extra in ({}, {"LAB_TEST_ORDER": "reverse"}):
        ids = _collected(extra, paths)
        assert ids[0].startswith("tests/lessons/test_lesson04.py::test_lesson04_as_the_learner"), (extra, ids[:3])
        assert ids[2].startswith("tests/teaching/doctor/test_parallel_doctor.py::test_doctor_parallel_checks"), ids[:3]
        assert ids[1].startswith("tests/teaching/doctor/test_parallel_doctor.py::test_doctor_parallel_fails"), ids[:3]
