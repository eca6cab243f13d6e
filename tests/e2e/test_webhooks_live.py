"""The webhook receivers in the real app (scripts/run.sh, production build). The live app runs
without provider secrets: handshakes are answered, notifications refused and recorded."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.e2e.conftest import LiveApp
from tests.webhook_samples import (
    DROPBOX_BODY,
    DROPBOX_SIGNATURE,
    GRAPH_VALIDATION_QUERY,
    GRAPH_VALIDATION_TEXT,
)


def test_unconfigured_receivers_refuse_and_handshakes_echo(live_app: LiveApp) -> None:
    base = live_app.base_url
    with httpx.Client(base_url=base, timeout=30) as http:
        challenge = http.get("/api/webhooks/dropbox", params={"challenge": "live-Challenge_42"})
        validation = http.post(f"/api/webhooks/onedrive?{GRAPH_VALIDATION_QUERY}")
        unsigned = http.post(
            "/api/webhooks/dropbox",
            content=DROPBOX_BODY,
            headers={"Content-Type": "application/json"},
        )
        signed = http.post(
            "/api/webhooks/dropbox",
            content=DROPBOX_BODY,
            headers={"X-Dropbox-Signature": DROPBOX_SIGNATURE},
        )
        oversized = http.post("/api/webhooks/dropbox", content=b"x" * (300 * 1024))

        token = http.post(
            "/api/auth/token", data={"username": live_app.username, "password": live_app.password}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        providers = http.get("/api/webhooks/providers", headers=auth).json()
        events = http.get(
            "/api/webhooks/events", params={"provider": "dropbox", "limit": 10}, headers=auth
        )
        anonymous = http.get("/api/webhooks/events")

    assert challenge.status_code == 200
    assert challenge.text == "live-Challenge_42"
    assert challenge.headers["content-type"].startswith("text/plain")
    assert challenge.headers["x-content-type-options"] == "nosniff"
    assert validation.status_code == 200 and validation.text == GRAPH_VALIDATION_TEXT

    for refused in (unsigned, signed):
        assert refused.status_code == 403, refused.text
        assert "not configured" in refused.json()["detail"]
    assert oversized.status_code == 413
    assert "FINAPP_WEBHOOK_MAX_BODY_KB" in oversized.json()["detail"]

    dropbox = next(p for p in providers if p["provider"] == "dropbox")
    assert dropbox["configured"] is False
    port = base.rsplit(":", 1)[1]
    assert dropbox["webhook_url"] == f"http://localhost:{port}/api/webhooks/dropbox"
    recorded = [e for e in events.json() if e["status"] == "rejected"]
    assert len(recorded) >= 2  # the two refused above (other tests may add their own)
    assert all("not configured" in e["error"] for e in recorded)
    assert DROPBOX_SIGNATURE not in events.text
    assert anonymous.status_code == 401


def test_the_fast_path_answers_and_the_rest_falls_through(live_app: LiveApp) -> None:
    """The production app serves the receivers from finapp.api.fastpath (it says so in the
    log); what it does not answer still gets the full stack: CORS for a browser's request, 405
    for other methods, 404 for unknown paths, and the receivers stay in the OpenAPI docs."""

    def chunks() -> Iterator[bytes]:
        for _ in range(100):  # 400 KB without Content-Length: counted as it streams
            yield b"x" * 4096

    with httpx.Client(base_url=live_app.base_url, timeout=30) as http:
        streamed = http.post("/api/webhooks/dropbox", content=chunks())
        from_browser = http.post(
            "/api/webhooks/dropbox", content=b"{}", headers={"Origin": "https://example.com"}
        )
        wrong_method = http.get("/api/webhooks/google-drive")
        unknown = http.post("/api/webhooks/nowhere", content=b"{}")
        openapi = http.get("/openapi.json").json()

    assert "Webhook receivers served by the fast path" in live_app.log_path.read_text()
    assert streamed.status_code == 413
    assert "FINAPP_WEBHOOK_MAX_BODY_KB" in streamed.json()["detail"]
    assert from_browser.status_code == 403  # not configured, answered by the FastAPI route
    assert from_browser.headers["access-control-allow-origin"]
    # Reflex's own app (mounted under FastAPI) takes what no API route matches fully: its
    # frontend mount answers a GET with 404 and refuses a POST with 405.
    assert wrong_method.status_code == 404
    assert unknown.status_code == 405
    for provider in ("dropbox", "google-drive", "onedrive"):
        assert "post" in openapi["paths"][f"/api/webhooks/{provider}"]
