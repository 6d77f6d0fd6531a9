from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .models import Book


class Library:
    """The use cases: each opens its own unit of work from the container's session factory."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def add(self, title: str) -> int:
        async with self.session_factory.begin() as session:
            book = Book(title=title)
            session.add(book)
            await session.flush()
            return book.id

    async def lend(self, title: str) -> int:
        async with self.session_factory.begin() as session:
            book = await session.scalar(select(Book).where(Book.title == title))
            if book is None:
                raise LookupError(title)
            book.loans += 1
            if book.loans > 2:
                raise PermissionError(f"{title} is lent out too often")  # begin() rolls the loan back
            return book.loans

    async def titles(self) -> list[str]:
        async with self.session_factory() as session:
            return list(await session.scalars(select(Book.title).order_by(Book.id)))


class Stats:
    """Reads with the engine itself, on a connection of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def books(self) -> int:
        async with self.engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM books")))
