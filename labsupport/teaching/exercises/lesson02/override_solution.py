"""Reference answer to lesson 02's design task (scenarios/lesson02/exercise/override_stub.py)."""

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from flashcards import db
from flashcards.api import app


@pytest.fixture
def session_override(lab_connection):
    factory = async_sessionmaker(bind=lab_connection, join_transaction_mode="create_savepoint",
                                 expire_on_commit=False)

    async def session_for_request():
        async with factory() as session:
            yield session

    app.dependency_overrides[db.get_session] = session_for_request
    yield
    del app.dependency_overrides[db.get_session]
