"""Only aliases: the project's own fixture names for labsupport's."""
import pytest


@pytest.fixture
def client(lab_client):
    return lab_client


@pytest.fixture
def connection(lab_connection):
    return lab_connection
