"""A TestClient on the real FastAPI app over a migrated per-test SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from finapp import db
from finapp.api.app import create_api
from finapp.models import User
from tests.services.conftest import cached_hash

ADMIN = "admin"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin(database: Path) -> User:
    with db.session_scope() as session:
        user = User(username=ADMIN, password_hash=cached_hash(ADMIN_PASSWORD))
        session.add(user)
    return user


@pytest.fixture
def client(database: Path, admin: User) -> Iterator[TestClient]:
    with TestClient(create_api()) as test_client:
        yield test_client


@pytest.fixture
def access_token(client: TestClient) -> str:
    response = client.post("/api/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def auth_headers(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}
