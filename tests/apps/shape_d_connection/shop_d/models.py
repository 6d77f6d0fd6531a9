import enum
from datetime import datetime

from sqlalchemy import Enum, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Status(enum.Enum):
    draft = "draft"
    active = "active"


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[Status] = mapped_column(Enum(Status, name="item_status"), default=Status.draft)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
