"""Exercise: give this suite a test database of its own.

As it stands, the app's lifespan builds its engine from FLASHCARDS_DATABASE_URL, which still
points at the dev database, so the guard (see ../pytest.ini) stops the session before any
test runs. Make the suite use a test database instead:

1. name it os.environ["LESSON01_PREFIX"] + "_" + something + "_test" (the guard's marker);
2. before the app is imported, point os.environ["FLASHCARDS_DATABASE_URL"] at it:
   labsupport.urls.with_database(os.environ["LESSON01_ADMIN_URL"], name) builds the URL;
3. in a pytest_sessionstart(session) hook, create it as a copy of os.environ["LESSON01_TEMPLATE"]:
   labsupport.connection.run_sync(labsupport.databases.clone(admin_url, template, name));
4. in a pytest_sessionfinish(session) hook, drop it (labsupport.databases.drop).

Then run the notebook's check cell again.
"""

import os  # noqa: F401 - you will need it

# Steps 1 and 2 go here, above the app's import.

import pytest  # noqa: E402
from asgi_lifespan import LifespanManager  # noqa: E402
from httpx import ASGITransport, AsyncClient  # noqa: E402

from flashcards.api import app  # noqa: E402

# Steps 3 and 4 go here.


@pytest.fixture
async def client():
    async with LifespanManager(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
