"""Two tests that each expect to see exactly their own user. Alone, each passes."""

from lesson02 import support as probe


async def check_only_my_user(name, user, client):
    emails = [u["email"] for u in (await client.get("/users")).json()]
    probe.save(name, {"rows_seen": len(emails), "rows_of_this_test": 1})
    assert emails == [user.email], f"the route lists {len(emails)} users, {len(emails) - 1} left by earlier tests"


async def test_first_lists_only_its_user(user, client):
    await check_only_my_user("naive_first", user, client)


async def test_second_lists_only_its_user(user, client):
    await check_only_my_user("naive_second", user, client)
