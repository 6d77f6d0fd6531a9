"""Lesson 04 run headless: both races reproduce on one shared database, xdist_group
hides them on one worker, and a database per worker passes every run and leaves nothing behind.

One execution in a kernel kept running, as a learner works it: with the learner's stub (the exercise
fails its self-check, the notebook still runs to the end), then with the reference answer (the check
passes). The measurement is kept small here; `labsupport run 04` measures with the notebook's defaults.
"""

from __future__ import annotations

import os
import re
import secrets

import pytest
from exercise_support import verdicts

from labsupport import databases
from labsupport.connection import run_sync

pytestmark = pytest.mark.notebook

NOTEBOOK = "04_parallel_workers"
CHECK = "evidence.check_exercise("
SMALL = {"work_ms": [0], "worker_counts": [2], "measure_tests": 10, "measure_repeats": 3, "run_doctor": False}
CRASH = "evidence.check_crash("


def _left(admin_url: str, prefix: str) -> list[str]:
    return run_sync(databases.names_under(admin_url, prefix))


def _assert_the_story(outcomes, prefix: str, repeats: int) -> None:
    messages = outcomes["race_messages"]
    assert any('duplicate key value violates unique constraint "pg_type_typname_nsp_index"' in m for m in messages)
    assert any(re.search(r'relation "\w+" does not exist', m) for m in messages), messages
    assert outcomes["sequential_buggy_passed"] is True

    counts = outcomes["xdist_group_worker_counts"]
    assert len(counts) == 1 and next(iter(counts)).startswith("gw") and sum(counts.values()) == 20, counts

    assert outcomes["fixed_parallel_runs"] == f"{repeats}/{repeats}"
    seen = {n for n in outcomes["worker_databases_seen"] if re.fullmatch(rf"{prefix}_fx_gw\d+_test", n)}
    assert len(seen) >= 2, outcomes["worker_databases_seen"]
    assert sorted(outcomes["left_by_crash"]) == sorted(f"{prefix}_fx_{p}_test" for p in ("gw0", "gw1", "template"))
    assert outcomes["databases_left_after_run"] == 0
    assert "removed 3 database(s)" in outcomes.seen("evidence.header(runs[0]")  # the killed run's databases, named

    assert set(outcomes["speedups"]) == {"0 ms/test, -n 2"}, outcomes["speedups"]
    assert outcomes["cpu_count"] == os.cpu_count()
    assert "load average" in outcomes.seen("evidence.time_suites(")
    said = outcomes.seen("evidence.conclusions(")
    assert said.startswith("At 0 ms per test, -n 2 "), said


# The cells that measure speed hold the lab's timing lock: never measured beside lesson 03's.
MEASURING = ("evidence.time_suites(",)


@pytest.mark.starts_first(0)
async def test_lesson04_as_the_learner_finds_it_works_it_and_the_solution(live_notebook, learner_view,
                                                                         lab_server) -> None:
    """One execution serves the story, the learner's stubs and the reference answers: Run All with
    both exercises as the learner finds them (the notebook still runs to the end), each check again
    after the clean-up, then ``solution = True`` in the parameters cell and both checks once more."""
    prefix, repeats = f"t04s_{secrets.token_hex(3)}", 3
    try:
        async with live_notebook(NOTEBOOK, db_prefix=prefix, solution=False, repeats=repeats, **SMALL) as nb:
            await nb.run_all(alone=MEASURING)
            executed = nb.executed()
            _assert_the_story(executed, prefix, repeats)
            learner_view(executed)
            crash = executed.seen(CRASH)
            assert verdicts(crash) == ["Not yet: write your prediction first."], crash
            assert "left on the server" not in crash  # predict first: what was left is not shown
            assert executed["exercise_passed"] is False
            first = executed.seen(CHECK)
            assert verdicts(first) and verdicts(first)[0].startswith("Not yet: two branches would share a prefix"), first
            assert "\nHint: " in first and "hashlib" in first, first

            again = await nb.run(CHECK)  # after the clean-up cell
            assert verdicts(again) == verdicts(first), again

            await nb.set_parameters(solution=True)  # the reference answers
            (verdict,) = verdicts(await nb.run(CHECK))
            assert verdict.startswith("Passed: all ") and "the hidden ones included" in verdict, verdict
            (verdict,) = verdicts(await nb.run(CRASH))
            assert verdict.startswith("Passed: right: SIGKILL runs no clean-up code"), verdict
            assert nb.executed()["exercise_passed"] is True
            await nb.run("print(await lesson.clean_up())")
            assert _left(lab_server.url, nb.prefix) == []
    finally:
        left = _left(lab_server.url, prefix)
        for name in left:
            run_sync(databases.drop(lab_server.url, name))
    assert left == [], f"the notebook left databases on the server: {left}"


def _support():
    import sys

    from labsupport.teaching import lesson

    sys.path.insert(0, str(lesson.SCENARIOS))
    from lesson04 import support

    return support


@pytest.mark.parametrize("prediction, verdict", [
    ({"template", "gw0", "gw1"}, "Passed: right: SIGKILL runs no clean-up code"),
    ({"gw0", "gw1"}, "the controller drops the template only when the run ends"),
    ({"template", "gw0", "gw1", "master"}, "master is the one process of a run without xdist"),
    (set(), "each worker drops its copy when it ends (step 2); SIGKILL ends it without that."),
])
def test_04_crash_check_tells_each_wrong_prediction_what_it_missed(lab_server, prediction, verdict,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Exercise 1, for real: a -n 2 run killed with SIGKILL once both workers are connected."""
    support, prefix = _support(), f"t04k_{secrets.token_hex(3)}"
    try:
        left = run_sync(support.check_crash(lab_server.url, prefix, {"LAB_SERVER_URL": lab_server.url}, prediction))
    finally:
        for name in _left(lab_server.url, prefix):
            run_sync(databases.drop(lab_server.url, name))
    assert sorted(left) == sorted(f"{prefix}_{p}_test" for p in ("gw0", "gw1", "template"))
    assert verdict in " ".join(capsys.readouterr().out.split())


def test_04_crash_check_without_a_prediction_names_what_to_write() -> None:
    said = str(_support().judge_crash(None, {"template"}))
    assert said.startswith("Not yet: write your prediction first") and "`prediction`" in said


_ANSWERS = {
    "stub": None,
    "verbatim": "def ci_prefix(project, branch):\n    return f'{project}_{branch}'\n",
    "cut_without_digest": ("import re\n\ndef ci_prefix(project, branch):\n"
                           "    return (project + '_' + re.sub('[^a-z0-9]+', '_', branch.lower()))[:40].strip('_')\n"),
    "builtin_hash": ("import re\n\ndef ci_prefix(project, branch):\n"
                     "    readable = re.sub('[^a-z0-9]+', '_', branch.lower()).strip('_')[:12].strip('_')\n"
                     "    return f'{project}_{readable}_{hash(branch) & 0xffffffff:08x}'\n"),
    "reference": "reference",
}


@pytest.mark.parametrize("answer, verdict", [
    ("stub", "Not yet: two branches would share a prefix"),
    ("verbatim", "Not yet: ci_prefix("),
    ("cut_without_digest", "Not yet: two branches would share a prefix"),
    ("builtin_hash", "Not yet: another process got another prefix for the same branch"),
    ("reference", "Passed: all "),
])
def test_04_ci_prefix_check_names_the_rule_an_answer_breaks(lab_server, tmp_path, answer, verdict,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Exercise 2 as a learner writes it: each answer's verdict, the suite run for real with -n 2."""
    import shutil

    from labsupport.teaching import exercises

    support, prefix = _support(), f"t04x_{secrets.token_hex(3)}"
    suite = tmp_path / "exercise"
    shutil.copytree(support.EXERCISE, suite)
    if answer == "reference":
        shutil.copyfile(exercises.folder("lesson04") / "ci_prefix.py", suite / "ci_prefix.py")
    elif _ANSWERS[answer]:
        (suite / "ci_prefix.py").write_text(_ANSWERS[answer])
    monkey = pytest.MonkeyPatch()
    monkey.setattr(support, "EXERCISE", suite)
    try:
        passed = support.check_exercise(prefix, {"LAB_SERVER_URL": lab_server.url})
    finally:
        monkey.undo()
        for name in _left(lab_server.url, prefix):
            run_sync(databases.drop(lab_server.url, name))
    out = capsys.readouterr().out
    assert verdicts(out)[0].startswith(verdict), out
    assert passed is (answer == "reference")
    if answer == "verbatim":
        assert "Hint: a prefix is lower-case letters" in out or "Hint: cut the readable part" in out, out


def _rows(sequential: list[float], parallel: list[float], work: int = 50) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [{"repeat": i, "work_ms": work, "workers": 0, "seconds": s}
                                     for i, s in enumerate(sequential)]
    return rows + [{"repeat": i, "work_ms": work, "workers": 2, "seconds": s} for i, s in enumerate(parallel)]


def test_04_conclusion_needs_ranges_that_do_not_overlap() -> None:
    """The sentence that reads the measurement claims an order only when every run of one mode beat every
    run of the other; it carries no figures, so the same finding reads the same on every run."""
    support = _support()
    assert support.conclusion(_rows([2.0, 2.1, 2.2], [3.0, 3.1, 3.5]), 50, 2) == \
        "At 50 ms per test, -n 2 was slower than -n 0 in every run on this machine."
    assert support.conclusion(_rows([4.0, 4.1, 4.6], [3.0, 3.1, 3.5]), 50, 2) == \
        "At 50 ms per test, -n 2 was faster than -n 0 in every run on this machine."
    assert support.conclusion(_rows([2.0, 3.2, 2.2], [3.0, 3.1, 3.5]), 50, 2) == \
        "At 50 ms per test, -n 2 against -n 0: within the noise here, their runs' ranges overlap."
    assert "too few runs" in support.conclusion(_rows([2.0], [3.0]), 50, 2)
    table = support.timing_rows(_rows([2.0, 2.1, 2.2], [3.0, 3.1, 3.5]))
    assert table[0] == ("50 ms", "-n 0", "2.00-2.20 s", "2.10 s", "3")


@pytest.mark.slow  # fifteen whole runs per mode: make test-slow (CI runs it)
@pytest.mark.usefixtures("timing_alone")
def test_04_section_5_run_five_times_gives_one_conclusion_or_the_noise(lab_server) -> None:
    """Fifteen real runs per mode, read as five measurements of three: every one says the same, or
    says it is within the noise; never the opposite of another."""
    support = _support()
    from labsupport.teaching import lesson

    prefix = f"t04m_{secrets.token_hex(3)}"
    env = {"LAB_SERVER_URL": lab_server.url, "LESSON04_TESTS": "10"}
    try:
        rows = support.time_suites(lesson.SCENARIOS / "lesson04" / "measure", [0], [2], 15, prefix, env,
                                   progress=False)
    finally:
        for name in _left(lab_server.url, prefix):
            run_sync(databases.drop(lab_server.url, name))
    said = {support.conclusion([r for r in rows if r["repeat"] // 3 == i], 0, 2) for i in range(5)}
    claims = {s for s in said if "within the noise" not in s}
    assert len(claims) <= 1, said


def test_04_reference_answers_live_outside_the_notebooks_folder() -> None:
    """Neither the file browser (notebooks/) nor show_file puts an answer or a hidden test beside the stub."""
    from labsupport.teaching import exercises, lesson

    answers = exercises.folder("lesson04")
    assert (answers / "ci_prefix.py").is_file() and (answers / "test_zz_hidden.py").is_file()
    assert not answers.resolve().is_relative_to(lesson.SCENARIOS.parent.resolve())
    shown = lesson.SCENARIOS / "lesson04" / "exercise"
    assert sorted(p.name for p in shown.iterdir() if p.suffix in (".py", ".ini")) == \
        ["ci_prefix.py", "conftest.py", "pytest.ini", "test_exercise.py"]
