"""Known development data: 3 users, 6 decks, 40 cards (the counts a developer would notice vanish)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from .models import Card, Deck, User, Visibility

USERS = 3
DECKS_PER_USER = 2
CARDS = 40


async def seed(session: AsyncSession) -> dict[str, int]:
    """Insert the development data set and commit; returns rows per table."""
    users = [User(email=f"dev{i}@example.org", display_name=f"Dev {i}") for i in range(1, USERS + 1)]
    session.add_all(users)
    await session.flush()
    decks = [
        Deck(owner_id=u.id, title=f"{u.display_name}'s deck {j}", visibility=list(Visibility)[j % 3])
        for u in users for j in range(DECKS_PER_USER)
    ]
    session.add_all(decks)
    await session.flush()
    session.add_all(
        Card(deck_id=decks[i % len(decks)].id, front=f"question {i}", back=f"answer {i}") for i in range(CARDS)
    )
    await session.commit()
    return {"users": USERS, "decks": len(decks), "cards": CARDS}
