"""The baseline: as many async tests as the measured suite, touching no database."""

from __future__ import annotations

import asyncio
import os

import pytest

TESTS = int(os.environ.get("ISOBENCH_TESTS", "200"))


@pytest.mark.parametrize("n", range(TESTS))
async def test_insert_and_read_back(n: int) -> None:
    await asyncio.sleep(0)
    assert n < TESTS
