"""The measured suite, the same for every strategy: ISOBENCH_TESTS tests that insert a row and read it back.

Each strategy's conftest.py provides ``session`` (an AsyncSession); nothing is committed.
"""

from __future__ import annotations

import os

import pytest
from isobench_models import Note
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

TESTS = int(os.environ.get("ISOBENCH_TESTS", "200"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_insert_and_read_back(session: AsyncSession, n: int) -> None:
    note = Note(label=f"note {n}")
    session.add(note)
    await session.flush()
    found = await session.scalar(select(func.count()).select_from(Note).where(Note.label == note.label))
    assert found == 1 and note.id is not None
