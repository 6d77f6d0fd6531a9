from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .db import engine, get_session_factory
from .models import Item, Status

started = []


def show(item: Item) -> dict:
    return {"name": item.name, "status": item.status.value, "created_at": item.created_at.isoformat()}


async def add_item(factory, name: str) -> dict:  # a use case: its own unit of work
    async with factory.begin() as session:
        item = Item(name=name)
        session.add(item)
        await session.flush()
        await session.refresh(item)
        return show(item)


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app):
        started.append(True)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/items")
    async def list_items(factory=Depends(get_session_factory)) -> list[dict]:
        assert started, "the lifespan ran"
        async with factory() as session:
            return [show(i) for i in (await session.scalars(select(Item).order_by(Item.id))).all()]

    @app.post("/items/{name}", status_code=201)
    async def create(name: str, factory=Depends(get_session_factory)) -> dict:
        try:
            return await add_item(factory, name)
        except IntegrityError:
            raise HTTPException(409, f"{name} exists") from None

    @app.post("/items/{name}/activate")
    async def activate(name: str, factory=Depends(get_session_factory)) -> dict:
        async with factory() as session:
            item = await session.scalar(select(Item).where(Item.name == name))
            item.status = Status.active
            await session.commit()
            return show(item)

    @app.post("/items/{name}/draft")
    async def draft(name: str, factory=Depends(get_session_factory)) -> dict:
        async with factory() as session:
            session.add(Item(name=name))
            await session.flush()
            await session.rollback()
        return {"kept": False}

    @app.post("/items/{name}/boom")
    async def boom(name: str, factory=Depends(get_session_factory)) -> dict:
        async with factory.begin() as session:
            session.add(Item(name=name))
            await session.flush()
            raise RuntimeError("the route failed after writing")

    return app
