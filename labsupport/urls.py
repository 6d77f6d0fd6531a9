"""PostgreSQL URLs: validate what a user typed, build the asyncpg URLs the lab hands out, and show
them without their password.

A URL written where others may read it (an executed notebook, its HTML, a report, a log) is
``redact``-ed: its password becomes ``***``. The notebook runner hands a kernel the redacted URL as
its ``database_url`` parameter and the real one in ``SECRET_ENV``, which ``reveal`` reads back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import LabError

__all__ = ["parse", "with_database", "asyncpg_kwargs", "describe", "redact", "is_redacted", "reveal",
           "REDACTED", "SECRET_ENV"]

REDACTED = "***"  # what SQLAlchemy shows for a hidden password
SECRET_ENV = "LAB_NOTEBOOK_DATABASE_URL"  # the real URL behind a notebook's redacted database_url

_EXAMPLE = "postgresql://user:password@host:5432/dbname"
_ACCEPTED = {"postgresql", "postgres", "postgresql+asyncpg"}


def parse(text: str, what: str = "LAB_DATABASE_URL") -> URL:
    """Parse a PostgreSQL URL into SQLAlchemy's asyncpg form, or explain in one line what is wrong."""
    text = text.strip()
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise LabError(f"{what} is not a URL ({text!r}): write it as {_EXAMPLE}") from None
    if url.drivername not in _ACCEPTED:
        raise LabError(
            f"{what} uses {url.drivername!r}, but the lab needs PostgreSQL through asyncpg: "
            f"write it as {_EXAMPLE}"
        )
    if not url.host and "host" not in url.query:
        raise LabError(f"{what} names no host ({redact(url)}): write it as {_EXAMPLE}")
    try:
        ports = [url.port, _query_port(url)]
    except (ValueError, TypeError):
        raise LabError(f"{what} has a port that is not a number ({redact(url)}): write it as {_EXAMPLE}") from None
    if any(p is not None and not 0 < p < 65536 for p in ports):
        raise LabError(f"{what} has a port outside 1-65535 ({redact(url)}): write it as {_EXAMPLE}")
    return url.set(drivername="postgresql+asyncpg")


def _query_port(url: URL, default: int | None = None) -> int | None:
    """The ``?port=`` of ``url`` as a number, ``default`` without one; ``TypeError`` when it is given twice."""
    value = url.query.get("port")
    if value is None:
        return default
    if not isinstance(value, str):
        raise TypeError(f"?port= given {len(value)} times")
    return int(value)


def with_database(url: URL | str, database: str) -> str:
    """The same server and user, another database, as a string with the password kept."""
    base = make_url(url) if isinstance(url, str) else url
    return base.set(database=database).render_as_string(hide_password=False)


def asyncpg_kwargs(url: URL | str) -> dict[str, object]:
    """Arguments for ``asyncpg.connect`` from a SQLAlchemy URL (a socket folder travels as ``?host=``)."""
    u = make_url(url) if isinstance(url, str) else url
    kwargs: dict[str, object] = {
        "user": u.username,
        "password": u.password,
        "database": u.database or "postgres",
        "host": u.host or u.query.get("host"),
        "port": u.port or _query_port(u, default=5432),
    }
    return {k: v for k, v in kwargs.items() if v is not None}


def describe(url: URL | str) -> str:
    """Where a URL points, for messages: ``127.0.0.1:5432`` or the socket folder."""
    kw = asyncpg_kwargs(url)
    return f"{kw.get('host')}:{kw.get('port')}"


def redact(url: URL | str) -> str:
    """The URL fit to show or to write into a file: a password, if it has one, as ``***``."""
    u = make_url(url) if isinstance(url, str) else url
    return u.render_as_string(hide_password=True)


def is_redacted(text: str) -> bool:
    """True for a URL whose password is the ``***`` that ``redact`` leaves."""
    try:
        return make_url(text.strip()).password == REDACTED
    except (ArgumentError, ValueError):
        return False


def reveal(text: str, what: str = "database_url", environ: Mapping[str, str] | None = None) -> str:
    """``text`` itself, or for a redacted URL the real one in ``SECRET_ENV`` that it stands for."""
    if not is_redacted(text):
        return text
    real = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    try:
        same = bool(real) and not is_redacted(real) and redact(real) == redact(text.strip())
    except (ArgumentError, ValueError):
        same = False
    if not same:
        raise LabError(
            f"{what} {text.strip()} hides its password ({REDACTED}) and {SECRET_ENV} does not hold the URL it "
            f"stands for: write the URL with its password, or set {what} = None for the lab's own server"
        )
    return real
