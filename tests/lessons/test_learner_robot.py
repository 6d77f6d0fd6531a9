"""A learner robot: every lesson on a live kernel (nbclient), worked the way real kernels break.

1. Run All, then every clean-up cell once more (so twice);
2. restart the kernel and run only the exercise checks, then the clean-up;
3. restart, run the parameters cells, then every other code cell once, last cell first (so each runs
   before the cells it depends on), then the clean-up.

Any output of any run fails the robot if it holds a NameError, a traceback longer than 15 lines, or an
error that does not say what to run; a clean-up cell fails the robot if it stops with any error (it must
always reach the drop), and after each part's clean-up no database of the lesson's ``db_prefix`` may be left
on the server. Cells are found by their tags (``exercise-check``, ``clean-up``,
``timing`` for the cells that measure speed); see ``CHECK_TAG`` and friends.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labsupport.connection import run_sync
from labsupport.databases import names_under
from labsupport.teaching.notebooks import discover

CHECK_TAG, CLEAN_UP_TAG, TIMING_TAG = "exercise-check", "clean-up", "timing"
PARAMETER_TAGS = ("parameters", "injected-parameters")
UNTAGGED = {CLEAN_UP_TAG: "clean_up(", CHECK_TAG: "check_exercise("}
LONGEST_TRACEBACK = 15
SAYS_WHAT_TO_RUN = re.compile(r"\brun\b", re.IGNORECASE)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Smaller workloads than a learner's defaults, as the lessons' own tests use: the robot is about cells, not figures.
PARAMETERS: dict[str, dict[str, object]] = {
    "02": {"timing_tests": 2},
    "03": {"repeats": 2, "tests": 100},
    "04": {"work_ms": [0, 50], "worker_counts": [2], "measure_tests": 20, "measure_repeats": 1, "run_doctor": False},
}


@dataclass
class Robot:
    """One lesson in one kernel, and what went wrong, cell by cell and part by part."""

    client: Any  # nbclient.NotebookClient
    prefix: str
    admin_url: str
    findings: list[str] = field(default_factory=list)
    part: str = ""
    strict: bool = False  # True: only tagged cells count (what the lesson says it is)

    @property
    def cells(self) -> list[Any]:
        return list(self.client.nb.cells)

    def tagged(self, tag: str) -> list[int]:
        """The cells tagged ``tag``; in a lesson that tags none, those that call ``UNTAGGED[tag]`` (the
        robot still works such a lesson, and reports the missing tags)."""
        code = [i for i, c in enumerate(self.cells) if c.cell_type == "code"]
        found = [i for i in code if tag in self.cells[i].metadata.get("tags", [])]
        if found or tag not in UNTAGGED or self.strict:
            return found
        return [i for i in code if UNTAGGED[tag] in self.cells[i].source]

    def code(self) -> list[int]:
        return [i for i, c in enumerate(self.cells) if c.cell_type == "code"]

    async def run(self, i: int) -> None:
        cell = self.cells[i]
        with _timing_lock() if TIMING_TAG in cell.metadata.get("tags", []) else contextlib.nullcontext():
            await self.client.async_execute_cell(cell, i)
        for problem in problems(cell.outputs):
            first = next((line for line in cell.source.splitlines() if line.strip()), "")
            self.findings.append(f"{self.part}: cell {i} `{first[:70]}`: {problem}")

    async def restart(self) -> None:
        await self.client.km.restart_kernel(now=True)
        await self.client.kc.wait_for_ready(timeout=300)

    async def clean_up(self) -> None:
        """Run the clean-up cells: each must finish without an error (so it reaches the drop), and no
        database of the lesson may be left after them."""
        for i in self.tagged(CLEAN_UP_TAG):
            await self.run(i)
            errors = [o for o in self.cells[i].outputs if o.get("output_type") == "error"]
            if errors:
                said = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
                self.findings.append(f"{self.part}: clean-up cell {i} stopped before its end: {shorten(said)}")
        left = run_sync(names_under(self.admin_url, self.prefix))
        if left:
            self.findings.append(f"{self.part}: the clean-up left {len(left)} database(s) on the server: {', '.join(left)}")


def problems(outputs: list[Any]) -> Iterator[str]:
    """What the robot fails on in one cell's outputs."""
    for out in outputs:
        if out.get("output_type") == "error":
            said = f"{out.get('ename')}: {out.get('evalue')}"
            if out.get("ename") == "NameError":
                yield f"raw {shorten(said)}"
            elif not SAYS_WHAT_TO_RUN.search(str(out.get("evalue", ""))):
                yield f"an error that does not say what to run: {shorten(said)}"
            lines = _ANSI.sub("", "\n".join(out.get("traceback", []))).splitlines()
            if len(lines) > LONGEST_TRACEBACK:
                yield f"a {len(lines)}-line traceback ({shorten(said)})"
        else:
            text = out.get("text") if out.get("output_type") == "stream" else (out.get("data") or {}).get("text/plain")
            text = "".join(text) if isinstance(text, list) else str(text or "")
            if "Traceback (most recent call last)" in text:
                tail = text[text.index("Traceback (most recent call last)"):].splitlines()
                if len(tail) > LONGEST_TRACEBACK:
                    yield f"a {len(tail)}-line traceback printed in its output"
            longest = max(_pytest_reports(text), default=0)
            if longest > LONGEST_TRACEBACK:
                yield f"a {longest}-line pytest failure report printed in its output"


_PYTEST_SECTION = re.compile(r"^_{3,} .+ _{3,}$")


def _pytest_reports(text: str) -> Iterator[int]:
    """The length of each failure report pytest printed (from its '____ test_x ____' line to the next section)."""
    length = None
    for line in text.splitlines():
        if _PYTEST_SECTION.match(line) or line.startswith("="):
            if length is not None:
                yield length
            length = 1 if _PYTEST_SECTION.match(line) else None
        elif length is not None:
            length += 1
    if length is not None:
        yield length


def shorten(text: str, width: int = 150) -> str:
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= width else text[: width - 5] + " [...]"


@contextlib.contextmanager
def _timing_lock() -> Iterator[None]:
    """The lab's timing lock (tests/conftest.py's ``timing_lock``): cells that measure speed never run beside each other."""
    from conftest import timing_lock

    with timing_lock():
        yield


@contextlib.asynccontextmanager
async def robot_for(notebook: Path, lab_server: Any) -> AsyncIterator[Robot]:
    from labsupport.teaching import jupyter_lab
    from labsupport.teaching.notebooks import live_kernel

    prefix = f"tr{notebook.stem[:2]}_{secrets.token_hex(3)}"
    parameters = {"database_url": lab_server.url, "db_prefix": prefix, **PARAMETERS.get(notebook.stem[:2], {})}
    env = jupyter_lab.environment() | {"JPY_SESSION_NAME": notebook.name}  # a kernel as `labsupport lab` starts it
    try:
        async with live_kernel(notebook, parameters, env=env, allow_errors=True) as client:
            yield Robot(client=client, prefix=prefix, admin_url=lab_server.url)
    finally:
        from labsupport.databases import drop_under

        run_sync(drop_under(lab_server.url, prefix))  # what a failing lesson could not clean up itself


def _tags_missing(robot: Robot, notebook: Path) -> list[str]:
    robot.strict = True
    missing = []
    if not robot.tagged(CLEAN_UP_TAG):
        missing.append(f"no cell tagged {CLEAN_UP_TAG!r}: the robot cannot find the clean-up")
    if notebook.stem[:2] != "00" and not robot.tagged(CHECK_TAG):
        missing.append(f"no cell tagged {CHECK_TAG!r}: the robot cannot find the exercise checks")
    robot.strict = False
    return missing


@pytest.mark.notebook
@pytest.mark.slow  # every lesson three more times on a live kernel: make test-slow (CI runs it)
@pytest.mark.parametrize("name", [p.stem for p in discover()])
async def test_the_learner_robot_finds_every_cell_survives_a_real_kernel(name: str, lab_server) -> None:
    (notebook,) = discover([name])
    async with robot_for(notebook, lab_server) as robot:
        robot.findings += _tags_missing(robot, notebook)

        robot.part = "Run All"
        for i in robot.code():
            await robot.run(i)
        robot.part = "clean-up run again after Run All"
        await robot.clean_up()

        robot.part = "after a restart, the exercise checks alone"
        await robot.restart()
        for i in robot.tagged(CHECK_TAG):
            await robot.run(i)
        robot.part = "clean-up after a restart and the checks"
        await robot.clean_up()

        robot.part = "after a restart, each cell once, last first"
        await robot.restart()
        settings = [i for i in robot.code() if set(robot.cells[i].metadata.get("tags", [])) & set(PARAMETER_TAGS)]
        for i in settings:
            await robot.run(i)
        for i in reversed(robot.code()):
            if i not in settings:
                await robot.run(i)
        robot.part = "clean-up after the cells out of order"
        await robot.clean_up()

    assert not robot.findings, f"{name}: {len(robot.findings)} finding(s):\n" + "\n".join(robot.findings)


@pytest.mark.notebook
async def test_00s_schema_table_run_again_after_the_clean_up_says_which_cell_to_run(lab_server) -> None:
    (notebook,) = discover(["00"])
    async with robot_for(notebook, lab_server) as robot:
        robot.part = "Run All"
        for i in robot.code():
            await robot.run(i)
        (table,) = [i for i in robot.code() if "schema.columns(" in robot.cells[i].source]
        robot.part = "the schema table after the clean-up"
        await robot.run(table)
        (error,) = [o for o in robot.cells[table].outputs if o.get("output_type") == "error"]
        assert error["ename"] == "MissingStep" and len(error["traceback"]) == 1, error
        assert "run the cell that makes it (lab.create_database('schema_tour')) again" in error["evalue"], error
        await robot.run(table - 1)  # the cell that makes it: then the table again
        await robot.run(table)
        assert "deck_visibility" in str(robot.cells[table].outputs)
        await robot.clean_up()
    assert not robot.findings, "\n".join(robot.findings)


def test_the_robot_fails_on_what_a_learner_should_never_see() -> None:
    """Its findings on outputs as nbclient records them (an error output, a printed traceback)."""
    name_error = {"output_type": "error", "ename": "NameError", "evalue": "name 'lab' is not defined",
                  "traceback": ["\x1b[31mNameError\x1b[0m: name 'lab' is not defined"]}
    vague = {"output_type": "error", "ename": "FileNotFoundError", "evalue": "[Errno 2] No such file: 'evidence'",
             "traceback": ["line"] * 3}
    long = {"output_type": "error", "ename": "MissingStep", "evalue": "Run section 6's set-up again first.",
            "traceback": ["frame\nframe"] * 8 + ["MissingStep: ..."]}
    printed = {"output_type": "stream", "name": "stdout",
               "text": "exit code 1\nTraceback (most recent call last):\n" + "  File x\n" * 15 + "OperationalError\n"}
    fine = [{"output_type": "error", "ename": "MissingStep", "evalue": "Run section 2 first: it defines `runner`.",
             "traceback": ["\x1b[1;31mRun section 2 first\x1b[0m"]},
            {"output_type": "stream", "name": "stdout", "text": "Passed: all checks pass.\n"}]
    report = {"output_type": "stream", "name": "stdout", "text": "F\n=== FAILURES ===\n___ test_a ___\n" + "E   x\n" * 20
              + "___ test_b ___\nshort\n=== short test summary info ===\nFAILED test_a\n"}
    assert [p.split(" ")[0:2] for p in problems([name_error, vague, long, printed, report])] == [
        ["raw", "NameError:"], ["an", "error"], ["a", "17-line"], ["a", "17-line"], ["a", "21-line"]]
    assert list(problems(fine)) == []
