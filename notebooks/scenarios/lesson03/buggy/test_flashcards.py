"""Eight ordinary tests of the Flashcards app, as the team wrote them."""

from __future__ import annotations

from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from flashcards.models import Card, Deck, User, Visibility


async def add_user(session: AsyncSession, name: str = "ada") -> User:
    user = User(email=f"{name}@example.org", display_name=name.title())
    session.add(user)
    await session.commit()
    return user


async def test_health_starts_empty(client: AsyncClient, db_session: AsyncSession) -> None:
    response = await client.get("/health")
    assert response.json() == {"status": "ok", "users": 0}


async def test_create_user(client: AsyncClient, db_session: AsyncSession) -> None:
    response = await client.post("/users", json={"email": "ada@example.org", "display_name": "Ada"})
    assert response.status_code == 201


async def test_route_sees_user_added_by_test(client: AsyncClient, db_session: AsyncSession) -> None:
    await add_user(db_session)
    response = await client.get("/users")
    assert [u["email"] for u in response.json()] == ["ada@example.org"]


async def test_create_deck_defaults_to_private(client: AsyncClient, db_session: AsyncSession) -> None:
    user = await add_user(db_session)
    response = await client.post("/decks", json={"owner_id": user.id, "title": "Verbs"})
    assert response.json()["visibility"] == "private"


async def test_deck_for_unknown_owner_is_404(client: AsyncClient, db_session: AsyncSession) -> None:
    response = await client.post("/decks", json={"owner_id": 999_999, "title": "Orphan"})
    assert response.status_code == 404


async def test_add_card_counts(client: AsyncClient, db_session: AsyncSession) -> None:
    user = await add_user(db_session)
    deck = Deck(owner_id=user.id, title="Nouns", visibility=Visibility.shared)
    db_session.add(deck)
    await db_session.commit()
    await client.post(f"/decks/{deck.id}/cards", json={"front": "der Hund", "back": "the dog"})
    response = await client.get(f"/decks/{deck.id}")
    assert response.json()["cards"] == 1


async def test_cards_deleted_with_their_deck(db_session: AsyncSession) -> None:
    user = await add_user(db_session)
    deck = Deck(owner_id=user.id, title="Tmp")
    db_session.add(deck)
    await db_session.flush()
    db_session.add(Card(deck_id=deck.id, front="q", back="a"))
    await db_session.commit()
    await db_session.delete(deck)
    await db_session.commit()
    assert await db_session.scalar(select(func.count()).select_from(Card)) == 0


async def test_users_listed_in_order(client: AsyncClient, db_session: AsyncSession) -> None:
    for name in ("bob", "cy"):
        await add_user(db_session, name)
    response = await client.get("/users")
    assert [u["display_name"] for u in response.json()] == ["Bob", "Cy"]
