"""Two workers take jobs from one queue with SELECT ... FOR UPDATE SKIP LOCKED.

Each worker is a session with its own transaction; the second must skip the card the first
has locked. The same test runs on both kinds of isolation.
"""

from sqlalchemy import select

from flashcards.models import Card, Deck, User


async def claim_next_card(session) -> int | None:
    """Lock the first card still to do, skipping cards another transaction has locked."""
    query = select(Card.id).where(Card.back == "todo").order_by(Card.id).with_for_update(skip_locked=True)
    return await session.scalar(query.limit(1))


async def two_workers_claim(factory) -> tuple[int | None, int | None]:
    async with factory() as setup:
        deck = Deck(owner=User(email="q@example.org", display_name="Queue"), title="Jobs")
        setup.add_all([Card(deck=deck, front=f"job {i}", back="todo") for i in (1, 2)])
        await setup.commit()
    async with factory() as first, factory() as second:
        return await claim_next_card(first), await claim_next_card(second)


async def test_workers_claim_different_cards_with_rollback_fixture(lab_session_factory):
    first, second = await two_workers_claim(lab_session_factory)
    assert first != second, f"both workers claimed card {first}: one connection, one transaction, no lock"


async def test_workers_claim_different_cards_with_cloned_database(cloned_session_factory):
    first, second = await two_workers_claim(cloned_session_factory)
    assert first != second, f"both workers claimed card {first}"
