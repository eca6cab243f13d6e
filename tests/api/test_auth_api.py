"""`POST /api/auth/token`, `GET /api/auth/me` and the bearer guard on protected routes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from finapp import db
from finapp.db import utcnow
from finapp.models import ApiToken
from finapp.services.secrets import hash_token
from finapp.services.throttle import USER_FAILURE_LIMIT, WINDOW, record_attempt
from tests.api.conftest import ADMIN, ADMIN_PASSWORD

PROTECTED = ["/api/auth/me", "/api/tokens"]


def login(client: TestClient, username: str = ADMIN, password: str = ADMIN_PASSWORD):
    return client.post("/api/auth/token", data={"username": username, "password": password})


def assert_unauthorized(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


def test_token_endpoint_returns_a_bearer_token_for_an_hour(client: TestClient) -> None:
    response = login(client)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("fa_")

    with db.session_scope() as session:
        record = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(body["access_token"]))
        ).one()
        assert record.kind == "access"
        lifetime = record.expires_at - utcnow()
        assert timedelta(minutes=59) < lifetime <= timedelta(minutes=60)


def test_token_endpoint_wants_form_data_not_json(client: TestClient) -> None:
    response = client.post("/api/auth/token", json={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("username", "password"), [(ADMIN, "wrong password!!"), ("nobody", ADMIN_PASSWORD)]
)
def test_wrong_credentials_are_401_with_a_json_detail(
    client: TestClient, username: str, password: str
) -> None:
    response = login(client, username, password)
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password."}
    assert "access_token" not in response.text


def test_throttled_sign_in_is_429_with_retry_after(client: TestClient) -> None:
    # Failures from another client: the lock is per username, whichever client asks.
    with db.session_scope() as session:
        now = utcnow()
        for i in range(USER_FAILURE_LIMIT):
            record_attempt(
                session=session,
                username=ADMIN,
                client="elsewhere",
                succeeded=False,
                now=now - timedelta(seconds=10 - i),
            )
    response = login(client)  # even the right password is refused while locked
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= WINDOW.total_seconds()
    assert "Try again in" in response.json()["detail"]


def test_sixth_bad_password_through_the_endpoint_is_429(client: TestClient) -> None:
    for _ in range(USER_FAILURE_LIMIT):
        assert login(client, password="wrong password!!").status_code == 401
    response = login(client, password="wrong password!!")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= WINDOW.total_seconds()


def test_me_returns_the_tokens_user(client: TestClient, auth_headers: dict[str, str]) -> None:
    response = client.get("/api/auth/me", headers=auth_headers)
    assert response.status_code == 200
    assert response.json() == {"username": ADMIN}


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_without_authorization_is_401(client: TestClient, path: str) -> None:
    assert_unauthorized(client.get(path))


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Basic abc", "Token fa_abc", "Bearer not-a-token", "fa_abc"]
)
def test_protected_route_with_a_malformed_authorization_is_401(
    client: TestClient, path: str, header: str
) -> None:
    assert_unauthorized(client.get(path, headers={"Authorization": header}))


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_with_an_expired_token_is_401(
    client: TestClient, access_token: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {access_token}"}
    assert client.get(path, headers=headers).status_code == 200
    with db.session_scope() as session:
        record = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(access_token))
        ).one()
        record.expires_at = utcnow() - timedelta(seconds=1)
        session.add(record)
    response = client.get(path, headers=headers)
    assert_unauthorized(response)
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("path", PROTECTED)
def test_protected_route_with_a_revoked_token_is_401(
    client: TestClient, auth_headers: dict[str, str], path: str
) -> None:
    created = client.post("/api/tokens", json={"name": "to revoke"}, headers=auth_headers).json()
    personal = {"Authorization": f"Bearer {created['token']}"}
    assert client.get(path, headers=personal).status_code == 200

    revoked = client.delete(f"/api/tokens/{created['id']}", headers=auth_headers)
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"

    response = client.get(path, headers=personal)
    assert_unauthorized(response)
    assert "revoked" in response.json()["detail"]
    assert client.get(path, headers=auth_headers).status_code == 200  # others unaffected


def test_a_token_can_revoke_itself(client: TestClient) -> None:
    token = login(client).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post("/api/tokens", json={"name": "self"}, headers=headers).json()
    own = {"Authorization": f"Bearer {created['token']}"}
    assert client.delete(f"/api/tokens/{created['id']}", headers=own).status_code == 200
    assert_unauthorized(client.get("/api/auth/me", headers=own))
