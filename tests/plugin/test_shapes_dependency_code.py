"""Which session dependencies keep code after their yield, and which factories they name (shapes).

A dependency whose code goes on after ``yield`` (a commit, a rollback in an except, a close in a
finally, a ``begin()`` block) is run as written on the test's connection instead of being replaced;
these tests pin down what counts as such code and which module-level objects are found.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from labsupport.pytest_plugin import shapes

engine = create_async_engine("postgresql+asyncpg://nobody@localhost/never_used")
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
state: dict[str, Any] = {}


async def commits_after() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session
        await session.commit()


async def rolls_back_in_except() -> AsyncIterator[AsyncSession]:
    session = SessionLocal()
    try:
        yield session
    except Exception:
        await session.rollback()
        raise


async def closes_in_finally() -> AsyncIterator[AsyncSession]:
    session = AsyncSession(engine)
    try:
        yield session
    finally:
        await session.close()


async def begins() -> AsyncIterator[AsyncSession]:
    async with SessionLocal.begin() as session:
        yield session


async def only_yields() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


async def from_the_lifespan() -> AsyncIterator[AsyncSession]:
    session = state["factory"]()
    try:
        yield session
        await session.commit()
    finally:
        await session.close()


@pytest.mark.parametrize("dependency", [commits_after, rolls_back_in_except, closes_in_finally, begins,
                                        from_the_lifespan])
def test_code_after_the_yield_is_found(dependency: Any) -> None:
    assert shapes.runs_after_yield(dependency)


def test_a_dependency_that_only_yields_inside_async_with_has_none() -> None:
    assert not shapes.runs_after_yield(only_yields)


def test_the_factory_a_dependency_names_is_found_with_its_module() -> None:
    assert shapes.factories_in(commits_after) == [(f"{__name__}:SessionLocal", SessionLocal)]
    assert shapes.factories_in(closes_in_finally) == [(f"{__name__}:engine", engine)]


def test_a_factory_made_at_run_time_is_not_found() -> None:
    assert shapes.factories_in(from_the_lifespan) == []
