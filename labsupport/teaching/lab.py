"""A lesson's server and databases: the ``Lab`` a notebook's set-up cell opens, one name prefix per kernel
and notebook, and the clean-up cell that drops what it made."""

from __future__ import annotations

import inspect
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import databases, server
from ..errors import LabError
from .cells import MissingStep, user_namespace
from .display import shorten, wrap
from .suites import SCENARIOS

__all__ = ["Lab", "open_lab", "current_lab", "on_clean_up", "clean_up"]


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


def current_lab(notebook: str) -> Lab:
    """The lab the set-up cell opened in this kernel, or (after a restart, set-up not run) the same
    lab opened now, with the parameters cell's values if it ran. An exercise check or a clean-up that
    starts with it runs alone::

        from labsupport.teaching import lesson
        lab = lesson.current_lab("01")
    """
    namespace = user_namespace(2)
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


_scenarios_importable()  # on import: see its docstring
