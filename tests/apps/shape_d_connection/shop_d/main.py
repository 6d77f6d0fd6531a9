from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .db import get_connection, get_engine
from .models import Item, Status

app = FastAPI()
items = Item.__table__


def show(row) -> dict:
    return {"name": row.name, "status": row.status.value, "created_at": row.created_at.isoformat()}


@app.get("/items")
async def list_items(conn: AsyncConnection = Depends(get_connection)) -> list[dict]:
    return [show(r) for r in await conn.execute(select(items).order_by(items.c.id))]


@app.post("/items/{name}", status_code=201)
async def create(name: str, conn: AsyncConnection = Depends(get_connection)) -> dict:
    try:
        row = (await conn.execute(insert(items).values(name=name, status=Status.draft).returning(items))).one()
        await conn.commit()
    except IntegrityError:
        await conn.rollback()
        raise HTTPException(409, f"{name} exists") from None
    return show(row)


@app.post("/items/{name}/activate")
async def activate(name: str, conn: AsyncConnection = Depends(get_connection)) -> dict:
    stmt = update(items).where(items.c.name == name).values(status=Status.active).returning(items)
    row = (await conn.execute(stmt)).one()
    await conn.commit()
    return show(row)


@app.post("/items/{name}/draft")
async def draft(name: str, conn: AsyncConnection = Depends(get_connection)) -> dict:
    await conn.execute(insert(items).values(name=name))
    return {"kept": False}  # never committed: closing the connection rolls it back


@app.post("/items/{name}/boom")
async def boom(name: str, conn: AsyncConnection = Depends(get_connection)) -> dict:
    await conn.execute(insert(items).values(name=name))
    raise RuntimeError("the route failed after writing")


@app.post("/bulk/{name}", status_code=201)
async def bulk(name: str, engine: AsyncEngine = Depends(get_engine)) -> dict:
    async with engine.begin() as conn:  # an AsyncEngine dependency: commits at the end of the block
        await conn.execute(insert(items).values(name=name))
    return {"saved": name}
