"""The HTTP API: a few routes over users, decks and cards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from . import db, settings
from .models import Card, Deck, User, Visibility


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    db.configure(settings.database_url())
    try:
        yield
    finally:
        await db.dispose()


app = FastAPI(title="Flashcards", lifespan=lifespan)
Session = Annotated[AsyncSession, Depends(db.get_session)]


@app.exception_handler(RuntimeError)
async def runtime_error(request: Request, exc: RuntimeError) -> JSONResponse:
    return JSONResponse(status_code=500, content={"detail": str(exc)})


class UserIn(BaseModel):
    email: str
    display_name: str


class DeckIn(BaseModel):
    owner_id: int
    title: str
    visibility: Visibility = Visibility.private


class CardIn(BaseModel):
    front: str
    back: str


@app.get("/health")
async def health(session: Session) -> dict[str, object]:
    users = await session.scalar(select(func.count()).select_from(User))
    return {"status": "ok", "users": users}


@app.get("/users")
async def list_users(session: Session) -> list[dict[str, object]]:
    rows = await session.scalars(select(User).order_by(User.id))
    return [{"id": u.id, "email": u.email, "display_name": u.display_name} for u in rows]


@app.post("/users", status_code=201)
async def create_user(body: UserIn, session: Session) -> dict[str, object]:
    user = User(email=body.email, display_name=body.display_name)
    session.add(user)
    await session.commit()
    return {"id": user.id, "email": user.email, "display_name": user.display_name}


@app.post("/decks", status_code=201)
async def create_deck(body: DeckIn, session: Session) -> dict[str, object]:
    if await session.get(User, body.owner_id) is None:
        raise HTTPException(404, f"user {body.owner_id} not found")
    deck = Deck(owner_id=body.owner_id, title=body.title, visibility=body.visibility)
    session.add(deck)
    await session.commit()
    return {"id": str(deck.id), "title": deck.title, "visibility": deck.visibility.value}


@app.get("/decks/{deck_id}")
async def get_deck(deck_id: uuid.UUID, session: Session) -> dict[str, object]:
    deck = await session.get(Deck, deck_id)
    if deck is None:
        raise HTTPException(404, f"deck {deck_id} not found")
    cards = await session.scalar(select(func.count()).select_from(Card).where(Card.deck_id == deck_id))
    return {"id": str(deck.id), "title": deck.title, "visibility": deck.visibility.value, "cards": cards}


@app.post("/decks/{deck_id}/cards", status_code=201)
async def add_card(deck_id: uuid.UUID, body: CardIn, session: Session) -> dict[str, object]:
    if await session.get(Deck, deck_id) is None:
        raise HTTPException(404, f"deck {deck_id} not found")
    card = Card(deck_id=deck_id, front=body.front, back=body.back)
    session.add(card)
    await session.commit()
    return {"id": card.id, "front": card.front, "back": card.back}
