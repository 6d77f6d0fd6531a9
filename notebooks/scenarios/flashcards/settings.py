"""The app's settings, read from the environment when first asked for."""

from __future__ import annotations

import os

ENV_VAR = "FLASHCARDS_DATABASE_URL"


def database_url() -> str:
    """The database the app works on (in development: the developer's own data)."""
    url = os.environ.get(ENV_VAR)
    if not url:
        raise RuntimeError(f"{ENV_VAR} is not set: point it at the app's PostgreSQL database")
    return url
