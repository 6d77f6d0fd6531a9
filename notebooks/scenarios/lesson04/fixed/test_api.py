"""Requests through the app: its commits only release savepoints in the worker's database."""


async def make_user(client, email="ada@example.org"):
    response = await client.post("/users", json={"email": email, "display_name": email.split("@")[0]})
    assert response.status_code == 201
    return response.json()["id"]


async def make_deck(client):
    response = await client.post("/decks", json={"owner_id": await make_user(client), "title": "Verbs"})
    assert response.status_code == 201
    return response.json()["id"]


async def test_create_and_list_users(lab_client):
    await make_user(lab_client)
    listed = await lab_client.get("/users")
    assert [u["email"] for u in listed.json()] == ["ada@example.org"]


async def test_health_counts_users(lab_client):
    await make_user(lab_client, "grace@example.org")
    assert (await lab_client.get("/health")).json() == {"status": "ok", "users": 1}


async def test_a_deck_needs_an_existing_owner(lab_client):
    response = await lab_client.post("/decks", json={"owner_id": 999_999, "title": "Nobody's"})
    assert response.status_code == 404


async def test_a_new_deck_is_private_and_empty(lab_client):
    deck = (await lab_client.get(f"/decks/{await make_deck(lab_client)}")).json()
    assert (deck["visibility"], deck["cards"]) == ("private", 0)


async def test_cards_are_counted(lab_client):
    deck_id = await make_deck(lab_client)
    for front in ("eimai", "echo"):
        assert (await lab_client.post(f"/decks/{deck_id}/cards", json={"front": front, "back": "?"})).status_code == 201
    assert (await lab_client.get(f"/decks/{deck_id}")).json()["cards"] == 2


async def test_unknown_deck_is_404(lab_client):
    response = await lab_client.get("/decks/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404


async def test_no_cards_for_an_unknown_deck(lab_client):
    response = await lab_client.post("/decks/00000000-0000-4000-8000-000000000000/cards",
                                     json={"front": "x", "back": "y"})
    assert response.status_code == 404
