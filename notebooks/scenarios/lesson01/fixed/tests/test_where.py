"""Which database did these tests really use? Ask the server, not the settings."""

import os
from pathlib import Path

from sqlalchemy import text

from flashcards import db


async def test_report_the_database_in_use(client):
    async with db.engine.connect() as conn:
        name = await conn.scalar(text("SELECT current_database()"))
    if os.environ.get("LESSON01_REPORT"):  # the notebook reads it back
        Path(os.environ["LESSON01_REPORT"]).write_text(name, encoding="utf-8")
    assert name
