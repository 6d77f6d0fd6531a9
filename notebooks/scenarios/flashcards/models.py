"""Three related tables, one native PostgreSQL enum and a server-side UUID default."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Visibility(enum.Enum):
    private = "private"
    shared = "shared"
    public = "public"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    decks: Mapped[list[Deck]] = relationship(back_populates="owner", cascade="all, delete-orphan")


class Deck(Base):
    __tablename__ = "decks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, server_default=text("gen_random_uuid()"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, name="deck_visibility"), server_default=Visibility.private.value
    )

    owner: Mapped[User] = relationship(back_populates="decks")
    cards: Mapped[list[Card]] = relationship(back_populates="deck", cascade="all, delete-orphan")


class Card(Base):
    __tablename__ = "cards"
    __table_args__ = (
        UniqueConstraint("deck_id", "front", name="cards_front_unique_per_deck"),
        CheckConstraint("length(front) > 0", name="cards_front_not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    deck_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decks.id", ondelete="CASCADE"))
    front: Mapped[str] = mapped_column(Text)
    back: Mapped[str] = mapped_column(Text)

    deck: Mapped[Deck] = relationship(back_populates="cards")


TABLES = [User.__table__, Deck.__table__, Card.__table__]
