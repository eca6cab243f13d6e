"""`GET /api/health` and the generated documentation."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from finapp import __version__
from tests.conftest import reload_settings


def test_health_is_ok_with_a_reachable_database(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "version": __version__}


def test_health_is_503_when_the_database_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x:y@127.0.0.1:1/db")
    reload_settings()
    response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "database": "unreachable",
        "version": __version__,
    }


def test_health_needs_no_token(client: TestClient) -> None:
    assert "WWW-Authenticate" not in client.get("/api/health").headers


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_openapi_lists_the_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["info"]["version"] == __version__
    for path in ("/api/auth/token", "/api/auth/me", "/api/tokens", "/api/health"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/api/auth/token"]
