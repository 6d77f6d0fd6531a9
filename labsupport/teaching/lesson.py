"""What a lesson notebook uses: its server and databases, recorded outcomes, expected failures,
and running a scenario's test suite for real in a subprocess."""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import databases, owners, server
from ..errors import LabError  # re-exported for lesson code
from ..settings import project_root

__all__ = [
    "OUTCOME_MIME", "Lab", "open_lab", "record", "read_outcomes", "expect_failure", "ExpectedFailure",
    "SuiteResult", "TestOutcome", "run_suite", "clean_env", "setup_ipytest", "show_file", "show_table",
    "SCENARIOS", "pytest_command", "wrap", "shorten", "needs", "MissingStep", "Verdict", "verdict",
    "current_lab", "parameter", "on_clean_up", "clean_up",
]

SCENARIOS = project_root() / "notebooks" / "scenarios"

OUTCOME_MIME = "application/vnd.isolation-lab.outcome+json"
_STRIPPED_ENV = ("FORCE_COLOR", "PY_COLORS", "NO_COLOR", "PYTEST_", "COV_CORE_", "COVERAGE_")


# ---------------------------------------------------------------- the lesson's server and databases


@dataclass
class Lab:
    """One lesson run: the server, and a name prefix so parallel runs never share a database."""

    info: server.ServerInfo
    prefix: str
    started_server: bool = False
    created: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # made here, then dropped by the clean-up

    @property
    def admin_url(self) -> str:
        return self.info.url

    def name(self, suffix: str) -> str:
        return databases.validate_name(f"{self.prefix}_{suffix}")

    def url(self, database: str) -> str:
        """The URL of ``database``; a database this lab made and its clean-up dropped stops the cell
        with one line saying to make it again, instead of the driver's traceback on first use."""
        if database in self.dropped:
            suffix = database.removeprefix(f"{self.prefix}_")
            raise MissingStep(f"The clean-up dropped {database}: run the cell that makes it "
                              f"(lab.create_database({suffix!r})) again first.")
        return self.info.url_for(database)

    async def create_database(self, suffix: str, *, template: str | None = None) -> str:
        name = self.name(suffix)
        await databases.create(self.admin_url, name, template=template, replace=True)
        self.created.append(name)
        self.dropped.discard(name)
        return name

    async def needs_database(self, database: str, *, where: str) -> None:
        """Stop the cell with one line ("run section 6's set-up again") if ``database`` (a name or a URL)
        is not on the server: after the clean-up, a cell re-run would otherwise fail deep in a driver
        or a nested pytest, hundreds of lines below the cause."""
        name = _database_name(database)
        if not await databases.exists(self.admin_url, name):
            raise MissingStep(f"The database {name} is gone (the clean-up drops it): run {where} again first.")

    async def template(self, metadata: Any) -> str:
        """``<prefix>_template``, a database with ``metadata``'s schema to clone suites' databases
        from; made if missing, so a check cell run after the clean-up or a restart still finds it."""
        from .. import schema

        name = self.name("template")
        if not await databases.exists(self.admin_url, name):
            await self.create_database("template")
            await schema.create_all(self.url(name), metadata)
        return name

    async def server_version(self) -> str:
        from ..connection import fetchval

        return str(await fetchval(self.admin_url, "SHOW server_version")).split()[0]

    async def cleanup(self) -> list[str]:
        """Drop every database this lesson's prefix owns; returns their names. Safe to repeat."""
        dropped = await databases.drop_under(self.admin_url, self.prefix)
        self.dropped.update(set(dropped) & set(self.created))
        return dropped

    async def clean_up(self) -> str:
        """``cleanup``, said in a sentence for the notebook's last cell; a second run says none were left."""
        dropped = await self.cleanup()
        names = ", ".join(dropped) if dropped else "none were left"
        return wrap(f"Dropped {len(dropped)} databases of this notebook ({self.prefix}_...): {names}.")


def _database_name(database: str) -> str:
    if "://" not in database:
        return database
    from .. import urls

    name = urls.parse(database, what="database URL").database
    if not name:
        raise LabError(f"the URL {urls.describe(database)} names no database")
    return name


def _scenarios_importable() -> None:
    """``notebooks/scenarios`` on ``sys.path``: the demo app imports as ``flashcards``, a lesson's helpers as
    ``lesson01`` ... Done on import too, so a cell that starts ``from labsupport.teaching import lesson``
    imports them even when it runs alone after a kernel restart."""
    if str(SCENARIOS) not in sys.path:
        sys.path.insert(0, str(SCENARIOS))


# The labs this process opened, by (notebook, database_url, db_prefix): a set-up cell run again gets
# the same lab (and prefix) back, so the clean-up still finds what the first run made.
_labs: dict[tuple[str, str | None, str | None], Lab] = {}


def open_lab(database_url: str | None = None, db_prefix: str | None = None, notebook: str | None = None) -> Lab:
    """The lesson's server: the URL papermill passed in, else the lab's own, started if needed.

    ``labsupport run`` passes ``database_url`` with its password shown as ``***`` (the executed
    notebook is a file); the real URL then comes from the kernel's environment (``urls.reveal``).

    Without ``db_prefix``, a notebook worked by hand gets a prefix a person can recognise
    (``nb01_3f2a1c`` for ``notebook="01"``). What a restarted kernel left (it runs no clean-up
    cell) is dropped here, by owner: ``server.reap`` removes databases whose kernel is gone and
    never touches those of another live kernel, even on the same notebook.
    It also puts ``notebooks/scenarios`` on ``sys.path`` so the demo app imports as ``flashcards``.
    Called again with the same arguments and a ``notebook`` (a set-up cell re-run), it returns the lab
    it opened before: one prefix per kernel and notebook, which the clean-up drops.
    """
    _scenarios_importable()
    from . import kernel_guard

    kernel_guard.install()  # from now on a skipped cell's NameError names the cell to run
    key = (notebook, database_url, db_prefix) if notebook else None
    if key is not None and key in _labs:
        return _labs[key]
    lab = _open(database_url, db_prefix, notebook)
    if key is not None:
        _labs[key] = lab
    return lab


def _open(database_url: str | None, db_prefix: str | None, notebook: str | None) -> Lab:
    default = f"nb{notebook}_{secrets.token_hex(3)}" if notebook else f"lab_{secrets.token_hex(3)}"
    prefix = databases.validate_prefix(db_prefix or default, "db_prefix")
    if database_url:
        from .. import urls

        real = urls.reveal(database_url, what="database_url")  # the runner's parameter shows *** for a password
        url = urls.parse(real, what="database_url").render_as_string(hide_password=False)
        server.reap(url)
        known = server.status()  # the lab's own server, or LAB_DATABASE_URL's, when the URL is theirs
        if known is not None and urls.describe(known.url) == urls.describe(url):
            lab = Lab(info=known, prefix=prefix)
        else:
            lab = Lab(info=server.ServerInfo(source="database_url parameter", url=url, managed=False), prefix=prefix)
    else:  # a use held as long as this kernel lives: no command stops the server under it
        lease = server.acquire(command=f"notebook {notebook or prefix}", sweep=True)
        lab = Lab(info=lease.info, prefix=prefix, started_server=lease.started)
    return lab


# ---------------------------------------------------------------- outcomes


def record(key: str, value: Any) -> Any:
    """Record an outcome in the notebook's own output, where ``read_outcomes`` finds it later, and
    return ``value``. The learner sees nothing: the output's text is empty."""
    try:
        json.dumps(value)
    except TypeError:
        raise LabError(f"outcome {key!r} must be JSON-serialisable, got {type(value).__name__}") from None
    bundle = {OUTCOME_MIME: {"key": key, "value": value}, "text/plain": ""}
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(bundle, raw=True)
    except ImportError:
        pass
    return value


def read_outcomes(notebook: str | os.PathLike[str]) -> dict[str, Any]:
    """Every ``record``-ed outcome of an executed notebook; the last value of a key wins."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if OUTCOME_MIME in data:
                item = data[OUTCOME_MIME]
                found[item["key"]] = item["value"]
    return found


# ---------------------------------------------------------------- expected failures


@dataclass
class ExpectedFailure:
    """What ``expect_failure`` caught: the exception, its type name and its one-line message."""

    error: BaseException | None = None

    @property
    def kind(self) -> str:
        return type(self.error).__name__ if self.error else ""

    @property
    def message(self) -> str:
        return str(self.error).strip().splitlines()[0] if self.error and str(self.error).strip() else ""


@contextlib.contextmanager
def expect_failure(kind: type[BaseException] | tuple[type[BaseException], ...],
                   match: str | None = None) -> Iterator[ExpectedFailure]:
    """A cell that must fail: catch the error, check its type and message, and show it readably.

    papermill ignores the ``raises-exception`` tag, so a cell that shows an expected
    error has to catch it itself and fail loudly if the error did not happen.
    """
    caught = ExpectedFailure()
    names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
    try:
        yield caught
    except kind as exc:
        caught.error = exc
    if caught.error is None:
        raise AssertionError(f"expected {names}, but the code ran without error: the bug did not reproduce")
    text = str(caught.error)
    if match is not None and not re.search(match, text):
        raise AssertionError(f"expected {names} matching {match!r}, got: {caught.kind}: {text}")
    print("As expected, it failed:\n" + wrap(f"  {caught.kind}: {caught.message}", indent="    "))


# ---------------------------------------------------------------- running a scenario's suite


@dataclass
class TestOutcome:
    name: str
    outcome: str  # passed, failed, error, skipped
    message: str
    seconds: float
    properties: dict[str, str] = field(default_factory=dict)  # record_property(), e.g. the xdist worker


@dataclass
class SuiteResult:
    """A pytest run of a scenario suite, read from its JUnit XML."""

    returncode: int
    tests: list[TestOutcome]
    output: str
    seconds: float

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tests)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def errors(self) -> int:
        return self.count("error")

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.errors == 0 and self.passed > 0

    @property
    def messages(self) -> list[str]:
        return [t.message for t in self.tests if t.message and t.outcome in ("failed", "error")]

    @property
    def problems(self) -> list[str]:
        """The distinct failure messages, without JUnit's 'failed on setup with "..."' wrapping."""
        found: dict[str, None] = {}
        for message in self.messages:
            line = re.sub(r'^failed on (setup|teardown) with "', "", message)
            if line != message and line.endswith('"') and line.count('"') % 2:
                line = line[:-1]  # the wrapper's closing quote, when the message fits on its line
            found.setdefault(line)
        return list(found)

    def expect(self, pattern: str, what: str) -> str:
        """The first failure message matching ``pattern`` (a regular expression): the evidence a
        reproduction promised. If the run shows none, fail saying what was expected and what the
        run did instead, so a reproduction that stopped reproducing is never a bare ``StopIteration``."""
        found = next((m for m in self.problems if re.search(pattern, m)), None)
        if found is None:
            seen = "\n  ".join(self.problems) or "no failure at all"
            raise AssertionError(f"the run did not reproduce {what}: expected a failure matching {pattern!r}.\n"
                                 f"It gave: {self.summary()}\n  {seen}")
        return found

    def summary(self) -> str:
        return (f"{self.passed} passed, {self.failed} failed, {self.errors} errors "
                f"in {self.seconds:.2f} s (exit {self.returncode})")

    def __repr__(self) -> str:
        return f"<SuiteResult {self.summary()}>"

    def _repr_markdown_(self) -> str:
        rows = ["| test | outcome | message |", "|---|---|---|"]
        for t in self.tests:
            rows.append(f"| `{t.name}` | {t.outcome} | {shorten(t.message, 160).replace('|', '/')} |")
        return f"**{self.summary()}**\n\n" + "\n".join(rows)


def clean_env(extra: Mapping[str, str] | None = None, scenarios: bool = True) -> dict[str, str]:
    """The environment for a nested pytest: without the outer run's colour and PYTEST_* settings,
    and (``scenarios``) with ``notebooks/scenarios`` importable (the demo app is ``flashcards``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_ENV)}
    _write_bytecode(env)
    env.setdefault(owners.ENV_VAR, str(owners.current()))  # what the suite creates stays ours to reap
    if scenarios:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SCENARIOS), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def _write_bytecode(env: dict[str, str]) -> None:
    """Let a nested pytest keep what it compiles, as Python does by default.

    With ``PYTHONDONTWRITEBYTECODE`` (which the lab used to force, and which container images often
    set) every nested process compiled the lab's modules and the suite's again, and rewrote the
    asserts of the plugins it loads, 0.1-0.2 CPU-s per process; a ``-n 2`` run has three and a lesson
    starts dozens. Without it, ``__pycache__`` folders appear beside the sources as in any Python
    project (git ignores them, JupyterLab hides them); a temporary suite's go with its folder, and
    where a folder cannot be written Python keeps the result in memory, as before."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)


def _message_of(element: ET.Element) -> str:
    text = element.get("message") or element.text or ""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in lines:  # prefer the exception line over source context
        if re.match(r"^(E\s+)?[\w.]+(Error|Exception|Warning)\b", line):
            return re.sub(r"^E\s+", "", line)
    return lines[0] if lines else ""


def _parse_junit(path: Path) -> list[TestOutcome]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            child = case.find(tag)
            if child is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = _message_of(child)
                break
        name = case.get("name", "?")
        properties = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        tests.append(TestOutcome(name=name, outcome=outcome, message=message, seconds=float(case.get("time", 0)),
                                 properties=properties))
    return tests


# The pytest plugins the lab's scenario suites use (pytest11 entry-point names). Only these load in
# a suite under notebooks/scenarios: autoloading every installed plugin (hypothesis, anyio,
# pytest-postgresql ...) cost each nested run about a second of start-up, and a lesson starts dozens.
SCENARIO_PLUGINS = ("asyncio", "labsupport", "xdist", "pytest_cov")


def plugin_args(target: Path, plugins: Sequence[str] | None = None) -> list[str]:
    """``--disable-plugin-autoload -p NAME ...`` for ``plugins`` (default: ``SCENARIO_PLUGINS`` for a suite
    under notebooks/scenarios, else nothing: a suite of your own keeps every installed plugin).
    xdist hands the same arguments to its workers. A plugin whose entry-point name is also a module
    of the standard library is named by its own module instead: ``-p asyncio`` marks the standard
    library's asyncio package for pytest's assert rewriting, some thirty modules rewritten in every
    process (and written into the Python installation's own ``__pycache__``)."""
    if plugins is None:
        plugins = SCENARIO_PLUGINS if Path(target).resolve().is_relative_to(SCENARIOS.resolve()) else None
    if plugins is None:
        return []
    installed = _installed_plugins()
    names = [installed[n] if n in sys.stdlib_module_names else n for n in plugins if n in installed]
    return ["--disable-plugin-autoload", *(a for name in names for a in ("-p", name))]


@functools.cache
def _installed_plugins() -> dict[str, str]:
    """The installed pytest plugins, entry-point name -> module: read once, a lesson starts dozens of suites."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group="pytest11")}


def pytest_command(target: Path, *args: str, plugins: Sequence[str] | None = None) -> list[str]:
    """The one command line for a nested pytest on a suite: this interpreter, no cache, quiet, no colour,
    and for the lab's own scenario suites only the plugins they use (``plugin_args``).

    Tracebacks are Python's own (``--tb=native``): the lab reads a run's messages, not pytest's
    annotated source listings, and building those costs 0.1-0.2 s per failure through SQLAlchemy's
    deep stacks (lesson 04's failing runs took 5.3-6.7 s instead of 2.2-2.8 s). A later ``--tb`` wins."""
    return [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider", *plugin_args(target, plugins),
            "-q", "--color=no", "--tb=native", *args]


def run_suite(path: str | os.PathLike[str], *args: str, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike[str] | None = None, timeout: float = 900, scenarios: bool = True,
              plugins: Sequence[str] | None = None) -> SuiteResult:
    """Run pytest on a scenario suite in a subprocess and return what happened, test by test.
    ``plugins``: see ``plugin_args``."""
    target = Path(path).resolve()
    if not target.exists():
        raise LabError(f"no test suite at {target}")
    workdir = Path(cwd) if cwd else (target if target.is_dir() else target.parent)
    with owners.temp_folder("suite") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = pytest_command(target, f"--junitxml={junit}", "-o", "junit_family=xunit2", *args, plugins=plugins)
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=workdir, env=clean_env(env, scenarios), capture_output=True, text=True,
                              timeout=timeout, check=False)
        seconds = time.perf_counter() - started
        tests = _parse_junit(junit)
    return SuiteResult(returncode=proc.returncode, tests=tests, output=proc.stdout + proc.stderr, seconds=seconds)


# ---------------------------------------------------------------- what the learner reads


def wrap(text: str, width: int = 96, indent: str = "  ") -> str:
    """``text`` wrapped at word boundaries, each paragraph's later lines indented; nothing is cut."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent=indent, break_long_words=False,
                                    break_on_hyphens=False) if line.strip() else line
                      for line in str(text).splitlines())


def shorten(text: str, width: int = 160) -> str:
    """At most ``width`` characters, cut at a word boundary and marked with ' [...]' if cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else textwrap.shorten(text, width, placeholder=" [...]")


class MissingStep(LabError):
    """A cell needs something an earlier cell makes: shown as one line, never a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[1;31m{self}\x1b[0m"]


def _user_namespace(depth: int = 2) -> dict[str, Any]:
    """The notebook's variables: the kernel's user namespace, else (outside IPython) the caller's globals."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    return shell.user_ns if shell is not None else sys._getframe(depth).f_globals


def needs(*names: str, where: str) -> None:
    """Stop the cell with one line ("run section 2 first") if a name it uses is not defined yet.

    For cells that depend on earlier ones, after a kernel restart or a skipped cell.
    """
    namespace = _user_namespace(2)
    missing = [n for n in names if n not in namespace]
    if missing:
        what = ", ".join(f"`{n}`" for n in missing)
        raise MissingStep(f"Run {where} first: it defines {what}, which this cell uses. "
                          "(After a kernel restart, run the notebook from the top, or from that section's start.)")


def parameter(name: str, default: Any = None) -> Any:
    """A value of the parameters cell (``solution``, ``db_prefix`` ...), or ``default`` if that cell has
    not run in this kernel: a cell run alone after a restart gets the value a learner working by hand has."""
    return _user_namespace(2).get(name, default)


def current_lab(notebook: str) -> Lab:
    """The lab the set-up cell opened in this kernel, or (after a restart, set-up not run) the same
    lab opened now, with the parameters cell's values if it ran. An exercise check or a clean-up that
    starts with it runs alone::

        from labsupport.teaching import lesson
        lab = lesson.current_lab("01")
    """
    namespace = _user_namespace(2)
    return open_lab(namespace.get("database_url"), namespace.get("db_prefix"), notebook=notebook)


Step = Callable[[], Any]
_steps: list[Step] = []


def on_clean_up(step: Step) -> Step:
    """Have the clean-up (``clean_up``) run ``step`` (``engine.dispose``, removing a folder), once;
    registered where the thing is made, so the clean-up cell needs no name that may not exist."""
    _steps.append(step)
    return step


async def _run_step(step: Step) -> str:
    """Run a clean-up step; what is already gone is fine, any other failure becomes one line."""
    try:
        result = step()
        if inspect.isawaitable(result):
            await result
    except (NameError, FileNotFoundError):
        return ""  # never made in this kernel, or already removed: nothing to undo
    except Exception as exc:  # noqa: BLE001 - a clean-up reports and goes on to drop the databases
        return f"could not {getattr(step, '__name__', 'run a step')}: {type(exc).__name__}: {shorten(str(exc), 120)}"
    return ""


async def clean_up(*steps: Step) -> str:
    """The lesson's clean-up cell: run the registered steps (``on_clean_up``) and ``steps``, then drop the
    databases of every lab this kernel opened, always, whatever a step did. Safe to run twice, and alone
    after a restart (then it removes what a dead kernel left: ``server.reap``, by owner)."""
    pending = [*_steps, *steps]
    _steps.clear()
    problems = [p for p in [await _run_step(step) for step in pending] if p]
    said = [await lab.clean_up() for lab in list(_labs.values())]
    if not said:
        said = [_reap_for_a_restarted_kernel()]
    return "\n".join([*said, *(wrap(f"Clean-up: {p}") for p in problems)])


def _reap_for_a_restarted_kernel() -> str:
    info = server.status()
    gone = server.reap(info.url) if info is not None else []
    left = f" (and {len(gone)} that a gone kernel left)" if gone else ""
    return f"This kernel opened no lab since it started: it made no databases to drop{left}."


@dataclass
class Verdict:
    """An exercise check's answer: passed, or what failed and why (one line) and where the lesson shows it."""

    passed: bool
    message: str
    hint: str = ""
    more: str = ""  # shown from the second failing try on

    def lines(self, tries: int = 1) -> list[str]:
        if self.passed:
            return [f"Passed: {self.message}"]
        shown = [f"Not yet: {self.message}"]
        if self.hint:
            shown.append(f"Hint: {self.hint}")
        if self.more and tries >= 2:
            shown.append(f"Still stuck? {self.more}")
        return shown

    def __str__(self) -> str:
        return "\n".join(wrap(line) for line in self.lines())


_tries: dict[str, int] = {}


def verdict(exercise: str, result: Verdict) -> bool:
    """Print an exercise check's verdict, wrapped, with more help after each failing try; returns passed."""
    tries = _tries.get(exercise, 0) + (not result.passed)
    _tries[exercise] = 0 if result.passed else tries
    print("\n".join(wrap(line) for line in result.lines(tries)))
    return result.passed


# ---------------------------------------------------------------- notebook conveniences


def setup_ipytest(*addopts: str) -> None:
    """ipytest for async tests in a kernel: its own thread (the kernel runs a loop), failures raise."""
    import ipytest

    ipytest.autoconfig(run_in_thread=True, raise_on_error=True,
                       addopts=["-q", "--color=no", "-p", "no:cacheprovider", *addopts])


def show_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """A small Markdown table: easier to read in a notebook than a list of tuples."""
    from IPython.display import Markdown, display

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def show_file(path: str | os.PathLike[str], lines: Sequence[int] | None = None) -> None:
    """Show a scenario file (or some of its lines) with syntax highlighting."""
    from IPython.display import Markdown, display

    shown = Path(path)
    text = shown.read_text(encoding="utf-8")
    if lines:
        all_lines = text.splitlines()
        text = "\n".join(all_lines[lines[0] - 1:lines[-1]])
    with contextlib.suppress(ValueError):  # a learner knows the file from the notebooks folder
        shown = shown.resolve().relative_to(Path.cwd().resolve())
    language = "ini" if shown.suffix in (".ini", ".cfg", ".toml") else "python"
    display(Markdown(f"`{shown.as_posix()}`\n```{language}\n{text}\n```"))


_scenarios_importable()  # on import: see its docstring
