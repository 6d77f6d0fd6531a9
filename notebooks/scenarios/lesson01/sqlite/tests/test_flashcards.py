"""The app's tests: the same file in every suite of this lesson, only conftest.py differs."""

import uuid

import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from flashcards import db
from flashcards.models import Deck


async def new_user(client) -> int:
    email = f"{uuid.uuid4().hex[:10]}@example.org"
    response = await client.post("/users", json={"email": email, "display_name": "Tester"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_create_and_list_users(client):
    user_id = await new_user(client)
    listed = (await client.get("/users")).json()
    assert user_id in [u["id"] for u in listed]


async def test_a_new_deck_gets_its_id_from_the_server(client):
    response = await client.post("/decks", json={"owner_id": await new_user(client), "title": "Verbs"})
    assert response.status_code == 201, response.text
    deck = (await client.get(f"/decks/{response.json()['id']}")).json()
    assert uuid.UUID(deck["id"]) and deck["visibility"] == "private" and deck["cards"] == 0


async def test_card_fronts_are_unique_per_deck(client):
    deck = (await client.post("/decks", json={"owner_id": await new_user(client), "title": "Nouns"})).json()
    card = {"front": "der Hund", "back": "the dog"}
    assert (await client.post(f"/decks/{deck['id']}/cards", json=card)).status_code == 201
    with pytest.raises(IntegrityError):
        await client.post(f"/decks/{deck['id']}/cards", json=card)


async def test_the_database_refuses_an_unknown_visibility(client):
    owner = await new_user(client)
    insert = text("INSERT INTO decks (id, owner_id, title, visibility) VALUES (:id, :owner, 'x', 'secret')")
    insert = insert.bindparams(bindparam("id", type_=Deck.__table__.c.id.type))
    with pytest.raises(DBAPIError):
        async with db.engine.begin() as conn:
            await conn.execute(insert, {"id": uuid.uuid4(), "owner": owner})
