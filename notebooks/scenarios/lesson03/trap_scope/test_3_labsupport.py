"""The same mistake with labsupport's lab_pooled_engine: one line that says what to change."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_lab_pooled_engine(lab_pooled_engine: AsyncEngine) -> None:
    async with lab_pooled_engine.connect() as connection:
        assert await connection.scalar(text("SELECT 1")) == 1
