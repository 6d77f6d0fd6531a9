"""The benchmark's tiny schema: one table, a server-side default, and a loader for pytest-postgresql."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Identity, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "isobench_note"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


def load_schema(host: str, port: int, user: str, dbname: str, password: str | None = None, **_: object) -> None:
    """pytest-postgresql's ``load=[...]`` callable: build the schema in its template with psycopg."""
    from sqlalchemy import URL, create_engine
    from sqlalchemy.pool import NullPool

    on_socket = str(host).startswith("/")
    url = URL.create("postgresql+psycopg", username=user, password=password, database=dbname,
                     host=None if on_socket else host, port=None if on_socket else int(port),
                     query={"host": str(host), "port": str(port)} if on_socket else {})
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
    finally:
        engine.dispose()
