"""`/api/tokens`: list, create (shown once), revoke."""

from __future__ import annotations

from fastapi.testclient import TestClient

from finapp import db
from finapp.models import User
from finapp.services import api_tokens
from tests.services.conftest import cached_hash


def test_create_returns_201_with_the_token_once(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = client.post(
        "/api/tokens", json={"name": "deploy bot", "expires_in_days": 30}, headers=auth_headers
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "deploy bot"
    assert created["status"] == "active"
    assert created["token"].startswith(created["prefix"])
    assert created["expires_at"] is not None

    listing = client.get("/api/tokens", headers=auth_headers)
    assert listing.status_code == 200
    assert [t["id"] for t in listing.json()] == [created["id"]]  # no access tokens listed
    assert created["token"] not in listing.text
    assert "token" not in listing.json()[0]

    works = client.get("/api/auth/me", headers={"Authorization": f"Bearer {created['token']}"})
    assert works.status_code == 200


def test_list_shows_status_and_last_use(client: TestClient, auth_headers: dict[str, str]) -> None:
    created = client.post("/api/tokens", json={"name": "n"}, headers=auth_headers).json()
    assert created["last_used_at"] is None
    client.get("/api/auth/me", headers={"Authorization": f"Bearer {created['token']}"})
    [listed] = client.get("/api/tokens", headers=auth_headers).json()
    assert listed["last_used_at"] is not None
    assert listed["expires_at"] is None


def test_revoking_someone_elses_token_is_404(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    with db.session_scope() as session:
        other = User(username="other", password_hash=cached_hash("another sturdy passphrase"))
        session.add(other)
        session.flush()
        issued = api_tokens.create_token(
            session=session, user_id=other.id, name="theirs", expires_in_days=None
        )
        other_token, other_id = issued.token, issued.record.id

    response = client.delete(f"/api/tokens/{other_id}", headers=auth_headers)
    assert response.status_code == 404
    assert "detail" in response.json()
    assert client.delete("/api/tokens/999999", headers=auth_headers).status_code == 404
    still = client.get("/api/auth/me", headers={"Authorization": f"Bearer {other_token}"})
    assert still.json() == {"username": "other"}


def test_empty_name_is_400_with_the_reason(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    for name in ("", "   "):
        response = client.post("/api/tokens", json={"name": name}, headers=auth_headers)
        assert response.status_code == 400, response.text
        assert "name" in response.json()["detail"]
    assert client.get("/api/tokens", headers=auth_headers).json() == []


def test_bad_expiry_is_400(client: TestClient, auth_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/tokens", json={"name": "n", "expires_in_days": 0}, headers=auth_headers
    )
    assert response.status_code == 400
    assert "Expiry" in response.json()["detail"]


def test_overlong_name_is_400_with_the_reason_like_an_empty_one(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = client.post("/api/tokens", json={"name": "n" * 101}, headers=auth_headers)
    assert response.status_code == 400
    assert "at most 100" in response.json()["detail"]
    # Surrounding spaces are trimmed before the length is judged.
    padded = client.post(
        "/api/tokens", json={"name": "  " + "n" * 100 + "  "}, headers=auth_headers
    )
    assert padded.status_code == 201


def test_absurdly_large_name_is_refused_before_the_service(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = client.post("/api/tokens", json={"name": "n" * 5000}, headers=auth_headers)
    assert response.status_code == 422


def test_token_routes_need_authentication(client: TestClient) -> None:
    assert client.post("/api/tokens", json={"name": "n"}).status_code == 401
    assert client.delete("/api/tokens/1").status_code == 401
