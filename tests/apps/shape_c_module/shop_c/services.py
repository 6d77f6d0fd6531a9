"""Use cases that open their own sessions from the module-level factory: no dependency injection."""
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from .db import async_session_maker, engine
from .models import Item, Status


class Duplicate(Exception):
    pass


def show(item: Item) -> dict:
    return {"name": item.name, "status": item.status.value, "created_at": item.created_at.isoformat()}


async def list_items() -> list[dict]:
    async with async_session_maker() as session:
        return [show(i) for i in (await session.scalars(select(Item).order_by(Item.id))).all()]


async def create(name: str) -> dict:
    async with async_session_maker() as session:
        item = Item(name=name)
        session.add(item)
        try:
            await session.commit()
        except IntegrityError:
            raise Duplicate(name) from None
        await session.refresh(item)
        return show(item)


async def activate(name: str) -> dict:
    async with async_session_maker.begin() as session:
        item = await session.scalar(select(Item).where(Item.name == name))
        item.status = Status.active
    return show(item)


async def draft(name: str) -> None:
    async with async_session_maker() as session:
        session.add(Item(name=name))
        await session.flush()
        await session.rollback()


async def boom(name: str) -> None:
    async with async_session_maker() as session:
        session.add(Item(name=name))
        await session.flush()
        raise RuntimeError("the route failed after writing")


async def count() -> int:  # straight on the engine
    async with engine.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM items"))
