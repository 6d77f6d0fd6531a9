"""Uses of the lab's own server: who needs it running now, so that no command stops it under another.

Every command, test run and notebook kernel that needs the lab's server holds a *use*: a file
in ``<home>/uses/`` naming its process (host, boot, pid and start time, as ``owners`` tells a
live process) and its command line. A use whose process is gone no longer counts, so a command
killed with SIGKILL never keeps the server up for ever, and its file is removed by the next look.

A process started by a holder (a notebook's kernel, a nested pytest, an xdist worker) finds
its parent's use in ``LAB_SERVER_USE`` and takes none of its own: it ends before its parent, or
outlives it only by the moment a kernel takes to shut down.

The *stop mark* (``<home>/uses/stop-when-unused``) says that a command started the server only
because it needed it: the last use to end then stops it. ``labsupport up`` clears the mark, so
the server it starts or finds keeps running until ``labsupport down``; ``labsupport lab`` does so
for a server it starts itself.
Everything here is done under ``<home>/uses/lock``; ``labsupport.server`` holds that lock while
it starts or stops the server, so a use is never taken on a server that is being stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import owners

__all__ = ["Use", "Uses", "ENV_VAR", "describe_command"]

ENV_VAR = "LAB_SERVER_USE"
_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")  # a URL's password in a command line
_STOP_MARK = "stop-when-unused"


@dataclass(frozen=True)
class Use:
    """One process's use of the server: the file that records it, its owner and its command."""

    path: Path
    owner: owners.Owner
    command: str

    def line(self) -> str:
        return f"pid {self.owner.pid} ({self.command})"


def describe_command(argv: list[str] | None = None) -> str:
    """This process's command as a person would type it, e.g. ``labsupport run 00`` or ``pytest tests``."""
    args = list(sys.argv if argv is None else argv) or ["python"]
    head = Path(args[0])
    name = head.parent.name if head.name == "__main__.py" else head.name  # python -m pytest: pytest
    text = " ".join([name, *args[1:]])
    return text if len(text) <= 80 else text[:77] + "..."


class Uses:
    """The uses of one lab's server, kept in ``<home>/uses/``."""

    def __init__(self, home: Path) -> None:
        self.folder = home / "uses"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The one lock over uses and the stop mark (held while the server is started or stopped).

        A first use that fails (a bad input: a data folder that is not ours ...) leaves no folder.
        """
        made = not self.folder.exists()
        self.folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        with open(self.folder / "lock", "a") as fh:
            self._hand_to_lab_owner(made)
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            except BaseException:
                if made and not any(p.name != "lock" for p in self.folder.iterdir()):
                    (self.folder / "lock").unlink(missing_ok=True)
                    self.folder.rmdir()
                raise
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _hand_to_lab_owner(self, made: bool) -> None:
        """Root may use anyone's lab: what it makes here stays usable by the lab's owner."""
        if os.geteuid() != 0:
            return
        home = self.folder.parent.stat()
        if home.st_uid != 0:
            for path in ([self.folder] if made else []) + [self.folder / "lock"]:
                if path.stat().st_uid == 0:
                    os.chown(path, home.st_uid, home.st_gid)

    def take(self, command: str) -> Use:
        """Record a use by this process (call under ``locked``)."""
        owner = owners.this_process()
        path = self.folder / f"{owner.pid}-{secrets.token_hex(4)}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)  # every user of this lab reads it
        with os.fdopen(fd, "w") as fh:
            json.dump({"owner": str(owner), "command": _PASSWORD.sub(r"\1***@", command)}, fh)
        tmp.replace(path)
        return Use(path, owner, command)

    def end(self, use: Use) -> None:
        use.path.unlink(missing_ok=True)

    def _read(self, path: Path) -> Use | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        owner = owners.parse(owners.MARK + str(data.get("owner", ""))) if isinstance(data, dict) else None
        return Use(path, owner, str(data.get("command", "?"))) if owner else None

    def live(self) -> list[Use]:
        """The uses whose process still runs; the files of gone ones (or unreadable ones) are removed."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            use = self._read(path)
            if use is None or use.owner.is_gone():
                path.unlink(missing_ok=True)
            else:
                found.append(use)
        return found

    def covering(self) -> Use | None:
        """The live use a parent handed down in ``LAB_SERVER_USE``, if it is one of this lab's."""
        named = os.environ.get(ENV_VAR)
        if not named or Path(named).parent != self.folder:
            return None
        use = self._read(Path(named))
        return use if use is not None and not use.owner.is_gone() else None

    def mark_stop(self, stop: bool) -> None:
        """Set or clear the stop mark: whether the last use to end stops the server."""
        mark = self.folder / _STOP_MARK
        if stop:
            mark.touch()
        else:
            mark.unlink(missing_ok=True)

    def stop_marked(self) -> bool:
        return (self.folder / _STOP_MARK).exists()
