from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .db import get_session
from .models import Item, Status

app = FastAPI()


def show(item: Item) -> dict:
    return {"name": item.name, "status": item.status.value, "created_at": item.created_at.isoformat()}


@app.get("/items")
async def list_items(session: AsyncSession = Depends(get_session)) -> list[dict]:
    return [show(i) for i in (await session.scalars(select(Item).order_by(Item.id))).all()]


@app.post("/items/{name}", status_code=201)
async def create(name: str, session: AsyncSession = Depends(get_session)) -> dict:
    item = Item(name=name)
    session.add(item)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise HTTPException(409, f"{name} exists") from None
    await session.refresh(item)
    return show(item)


@app.post("/items/{name}/activate")
async def activate(name: str, session: AsyncSession = Depends(get_session)) -> dict:
    item = await session.scalar(select(Item).where(Item.name == name))
    item.status = Status.active
    await session.commit()
    return show(item)


@app.post("/items/{name}/draft")
async def draft(name: str, session: AsyncSession = Depends(get_session)) -> dict:
    session.add(Item(name=name))
    await session.flush()
    await session.rollback()
    return {"kept": False}


@app.post("/items/{name}/boom")
async def boom(name: str, session: AsyncSession = Depends(get_session)) -> dict:
    session.add(Item(name=name))
    await session.flush()
    raise RuntimeError("the route failed after writing")
