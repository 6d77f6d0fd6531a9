"""Design task: make this suite safe in the developer's shell.

There, one variable is set: FLASHCARDS_DATABASE_URL, naming the developer's dev database. As it
stands, the app uses that URL, so the guard (see ../pytest.ini) stops the session before any test.
The notebook also sets LESSON01_TEMPLATE: a database on the same server that holds the app's schema.
Use only these two variables.

Write this file so that:
- every test runs on a database of this run's own, on the server FLASHCARDS_DATABASE_URL names,
  cloned from LESSON01_TEMPLATE and named after the dev database: <dev database>_<random>_test;
- the app module (flashcards.api) is imported only once FLASHCARDS_DATABASE_URL names that test
  database: the check watches the import;
- when FLASHCARDS_DATABASE_URL names no database, the session stops before any test with one line
  that says what to set (as the guard does), and creates nothing;
- the run drops its database when the session ends.
Section 4 of the notebook shows the pieces. Then run the notebook's check cell again.
"""

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient

from flashcards.api import app


@pytest.fixture
async def client():
    async with LifespanManager(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
            yield client
