"""The webhook receivers in the real app (scripts/run.sh, production build). The live app runs
without provider secrets: handshakes are answered, notifications refused and recorded."""

from __future__ import annotations

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
