"""`/api/webhooks` over HTTP: the public receivers with real signatures, the body limit, the
rate limit, and the management routes behind a bearer token.

Every test runs twice: against the FastAPI routes alone, and with the fast path that answers
the receivers in production (`finapp.api.fastpath`) in front of them — so both must behave
alike. tests/api/test_webhook_fastpath.py checks which of them answered."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from finapp import db
from finapp.api.app import create_api
from finapp.api.fastpath import WebhookFastPath
from finapp.api.recorder import recorder
from finapp.models import WebhookEvent
from finapp.services import webhooks
from tests.conftest import reload_settings
from tests.webhook_samples import (
    DRIVE,
    DRIVE_CHANNEL,
    DROPBOX,
    DROPBOX_ACCOUNT,
    DROPBOX_BODY,
    DROPBOX_SIGNATURE,
    GOOGLE_TOKEN,
    GRAPH_VALIDATION_QUERY,
    GRAPH_VALIDATION_TEXT,
    ONEDRIVE,
    ONEDRIVE_SECRET,
    SECRETS_ENV,
    drive_headers,
    dropbox_body,
    dropbox_signature,
    graph_body,
    graph_item,
)

AppFactory = Callable[[], Any]


@pytest.fixture(params=["routes", "fastpath"])
def make_app(request: pytest.FixtureRequest) -> AppFactory:
    """The FastAPI app as is, or behind the fast path as finapp.finapp serves it."""
    if request.param == "routes":
        return create_api
    return lambda: WebhookFastPath(create_api())


@pytest.fixture
def client(database: Any, admin: Any, make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS_ENV.items():
        monkeypatch.setenv(name, value)
    reload_settings()


def stored() -> list[WebhookEvent]:
    with db.session_scope() as session:
        return list(session.exec(select(WebhookEvent).order_by(col(WebhookEvent.id))).all())


def post_dropbox(client: TestClient, body: bytes, signature: str | None = None, **headers: str):
    sent = {"Content-Type": "application/json", **headers}
    if signature != "":
        sent["X-Dropbox-Signature"] = signature or dropbox_signature(body)
    return client.post(DROPBOX, content=body, headers=sent)


def post_graph(client: TestClient, body: bytes):
    return client.post(ONEDRIVE, content=body, headers={"Content-Type": "application/json"})


# -- Dropbox --------------------------------------------------------------------------------------


def test_dropbox_reference_vector_is_accepted(client: TestClient, configured: None) -> None:
    response = post_dropbox(client, DROPBOX_BODY, DROPBOX_SIGNATURE)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "accepted": 1, "duplicates": 0}
    [event] = stored()
    assert (event.status, event.account, event.client) == (
        "accepted",
        DROPBOX_ACCOUNT,
        "testclient",
    )


def test_dropbox_challenge_is_echoed_as_plain_text(client: TestClient) -> None:
    response = client.get(DROPBOX, params={"challenge": "<script>alert(1)</script>"})

    assert response.status_code == 200
    assert response.text == "<script>alert(1)</script>"
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("query", ["", "?challenge=", "?challenge=" + "x" * 1001])
def test_dropbox_challenge_missing_or_too_long_is_400(client: TestClient, query: str) -> None:
    response = client.get(DROPBOX + query)

    assert response.status_code == 400
    assert "challenge" in response.json()["detail"]


def test_forged_and_missing_signatures(client: TestClient, configured: None) -> None:
    forged = post_dropbox(client, DROPBOX_BODY, dropbox_signature(DROPBOX_BODY, "not-the-secret"))
    missing = post_dropbox(client, DROPBOX_BODY, "")
    tampered = post_dropbox(
        client, DROPBOX_BODY.replace(b"12345678", b"12345679"), DROPBOX_SIGNATURE
    )

    assert forged.status_code == 403 and forged.json() == {"detail": "Invalid X-Dropbox-Signature."}
    assert missing.status_code == 401 and "X-Dropbox-Signature" in missing.json()["detail"]
    assert tampered.status_code == 403
    assert [(e.status, e.verification) for e in stored()] == [
        ("rejected", "wrong signature"),
        ("rejected", "missing signature"),
        ("rejected", "wrong signature"),
    ]


def test_signed_malformed_json_is_400_and_recorded(client: TestClient, configured: None) -> None:
    response = post_dropbox(client, b'{"list_folder": {')

    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed JSON body."}
    [event] = stored()
    assert (event.status, event.verified, event.body) == ("rejected", True, None)


def test_dropbox_redelivery_is_200_and_a_duplicate(client: TestClient, configured: None) -> None:
    first = post_dropbox(client, DROPBOX_BODY)
    again = post_dropbox(client, DROPBOX_BODY)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    assert [e.status for e in stored()] == ["accepted", "duplicate"]


# -- Google Drive ---------------------------------------------------------------------------------


def test_drive_sync_and_update_examples(client: TestClient, configured: None) -> None:
    sync = client.post(DRIVE, headers=drive_headers("sync", 1))
    update = client.post(DRIVE, headers=drive_headers("update", 11, changed="content,properties"))
    repeated = client.post(DRIVE, headers=drive_headers("update", 11, changed="content,properties"))

    assert [r.status_code for r in (sync, update, repeated)] == [200, 200, 200]
    assert repeated.json()["status"] == "duplicate"
    rows = stored()
    assert [(e.event_type, e.status) for e in rows] == [
        ("sync", "accepted"),
        ("update", "accepted"),
        ("update", "duplicate"),
    ]
    assert {e.account for e in rows} == {DRIVE_CHANNEL}


def test_drive_unknown_state_is_accepted(client: TestClient, configured: None) -> None:
    response = client.post(DRIVE, headers=drive_headers("archived", 3))

    assert response.status_code == 200
    assert stored()[0].event_type == "unknown:archived"


def test_drive_wrong_or_missing_token(client: TestClient, configured: None) -> None:
    wrong = client.post(DRIVE, headers=drive_headers(token="3a98f1a2b3c4d5e6f8"))
    missing = client.post(DRIVE, headers=drive_headers(token=None))

    assert wrong.status_code == 403
    assert missing.status_code == 401
    assert "www-authenticate" not in missing.headers  # not a bearer-token route
    assert [e.verification for e in stored()] == ["wrong token", "missing token"]


def test_drive_missing_headers_are_400(client: TestClient, configured: None) -> None:
    headers = drive_headers("update", 2)
    del headers["X-Goog-Resource-State"], headers["X-Goog-Message-Number"]

    response = client.post(DRIVE, headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"] == (
        "Missing required headers: X-Goog-Resource-State, X-Goog-Message-Number."
    )
    assert stored()[0].status == "rejected"


# -- OneDrive / Graph -----------------------------------------------------------------------------


def test_graph_validation_echoes_the_decoded_token(client: TestClient) -> None:
    response = client.post(f"{ONEDRIVE}?{GRAPH_VALIDATION_QUERY}")

    assert response.status_code == 200
    assert response.text == GRAPH_VALIDATION_TEXT
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert stored() == []  # a handshake proves nothing and is not an event


def test_graph_notification_example(client: TestClient, configured: None) -> None:
    response = post_graph(client, graph_body(graph_item(item_id="n-1")))
    again = post_graph(client, graph_body(graph_item(item_id="n-1")))

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "accepted": 1, "duplicates": 0}
    assert again.json()["status"] == "duplicate"


def test_graph_one_bad_client_state_rejects_the_batch(client: TestClient, configured: None) -> None:
    body = graph_body(
        graph_item(item_id="1"), graph_item(item_id="2", client_state=ONEDRIVE_SECRET + "!")
    )

    response = post_graph(client, body)

    assert response.status_code == 403
    assert [(e.status, e.verification) for e in stored()] == [("rejected", "wrong clientState")]


def test_graph_lifecycle_event_shows_in_providers(
    client: TestClient, configured: None, auth_headers: dict[str, str]
) -> None:
    post_graph(client, graph_body(graph_item(lifecycle="reauthorizationRequired")))

    providers = client.get("/api/webhooks/providers", headers=auth_headers).json()

    onedrive = next(p for p in providers if p["provider"] == "onedrive")
    assert onedrive["last_lifecycle_event"] == "reauthorizationRequired"
    assert onedrive["accepted"] == 1


def test_graph_malformed_json_is_400(client: TestClient, configured: None) -> None:
    response = post_graph(client, b"{nope")

    assert response.status_code == 400
    assert stored()[0].status == "rejected"


# -- unconfigured, oversized, throttled -----------------------------------------------------------


def test_unconfigured_providers_are_403_and_recorded(client: TestClient) -> None:
    responses = [
        post_dropbox(client, DROPBOX_BODY, DROPBOX_SIGNATURE),
        client.post(DRIVE, headers=drive_headers()),
        post_graph(client, graph_body(graph_item())),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert all("not configured" in r.json()["detail"] for r in responses)
    assert [(e.provider, e.status) for e in stored()] == [
        ("dropbox", "rejected"),
        ("google-drive", "rejected"),
        ("onedrive", "rejected"),
    ]


def test_declared_oversized_body_is_413_without_being_read(
    client: TestClient, configured: None
) -> None:
    consumed = []

    def body() -> Iterator[bytes]:
        consumed.append(True)
        yield b"x" * 1024

    response = client.post(DROPBOX, content=body(), headers={"Content-Length": str(257 * 1024)})

    assert response.status_code == 413
    assert "FINAPP_WEBHOOK_MAX_BODY_KB" in response.json()["detail"]
    assert consumed == []
    assert stored() == []


def test_the_webhook_limit_follows_its_setting(
    client: TestClient, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINAPP_WEBHOOK_MAX_BODY_KB", "1")
    reload_settings()
    frame = len(dropbox_body("dbid:"))
    just_fits = dropbox_body("dbid:" + "a" * (1024 - frame))
    assert len(just_fits) == 1024

    assert post_dropbox(client, just_fits).status_code == 200
    assert post_dropbox(client, just_fits + b" ").status_code == 413


def test_streamed_oversized_body_is_cut_off_at_the_limit(
    configured: None, database: Any, make_app: AppFactory
) -> None:
    """A chunked body without Content-Length: the app stops pulling chunks past the limit.
    (TestClient buffers request bodies, so this drives the ASGI app directly.)"""
    app = make_app()
    chunk = b"x" * 4096
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < 10_000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": DROPBOX,
        "raw_path": DROPBOX.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"x-dropbox-signature", b"0" * 64), (b"host", b"testserver")],
        "client": ("203.0.113.9", 4000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))

    assert sent[0]["status"] == 413
    assert pulled == 256 * 1024 // len(chunk) + 1  # one chunk past 256 KB, then nothing more
    assert stored() == []


def test_rate_limit_after_many_rejections_spares_other_clients(
    client: TestClient, configured: None, database: Any, make_app: AppFactory
) -> None:
    for _ in range(webhooks.REJECTION_LIMIT):
        assert post_dropbox(client, DROPBOX_BODY, "0" * 64).status_code == 403

    throttled = post_dropbox(client, DROPBOX_BODY)  # valid, but this client is on hold
    with TestClient(make_app(), client=("198.51.100.23", 5000)) as other:
        unaffected = post_dropbox(other, DROPBOX_BODY)

    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert "Too many rejected webhook requests" in throttled.json()["detail"]
    assert unaffected.status_code == 200
    assert unaffected.json()["status"] == "accepted"
    assert len(stored()) == webhooks.REJECTION_LIMIT + 1


def test_no_secret_reaches_the_event_log(
    client: TestClient, configured: None, auth_headers: dict[str, str]
) -> None:
    post_dropbox(client, DROPBOX_BODY)
    post_dropbox(client, DROPBOX_BODY, "1" * 64)
    client.post(DRIVE, headers=drive_headers("update", 5))
    client.post(DRIVE, headers=drive_headers(token="wrong"))
    post_graph(client, graph_body(graph_item(item_id="a")))
    post_graph(client, graph_body(graph_item(client_state="wrong")))

    listing = client.get("/api/webhooks/events", headers=auth_headers).json()
    details = [
        client.get(f"/api/webhooks/events/{e['id']}", headers=auth_headers).json() for e in listing
    ]

    everything = json.dumps([listing, details, [e.model_dump(mode="json") for e in stored()]])
    for secret in (*SECRETS_ENV.values(), DROPBOX_SIGNATURE):
        assert secret not in everything
    assert details[-1]["headers"]["x-dropbox-signature"] == webhooks.REDACTED


# -- the recorder: concurrent requests, written in batches ----------------------------------------


def send_together(app: Any, requests: list[tuple[bytes, str]]) -> list[Any]:
    """POST all at once from one event loop, as a burst of deliveries arrives."""

    async def scenario() -> list[Any]:
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=False, client=("203.0.113.50", 4000)
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(
                *(
                    http.post(DROPBOX, content=body, headers={"X-Dropbox-Signature": signature})
                    for body, signature in requests
                )
            )

    return asyncio.run(scenario())


def test_a_burst_is_recorded_in_batches_and_each_request_gets_its_answer(
    configured: None, database: Any, monkeypatch: pytest.MonkeyPatch, make_app: AppFactory
) -> None:
    sizes: list[int] = []
    record = webhooks.record_deliveries

    def counting(**kwargs: Any) -> Any:
        sizes.append(len(kwargs["deliveries"]))
        return record(**kwargs)

    monkeypatch.setattr(webhooks, "record_deliveries", counting)
    bodies = [dropbox_body(f"dbid:burst-{i}") for i in range(60)]
    requests = [(body, dropbox_signature(body)) for body in bodies]
    requests += [(bodies[0], dropbox_signature(bodies[0]))]  # a redelivery within the burst
    requests += [(bodies[1], "0" * 64)] * 5

    responses = send_together(make_app(), requests)

    assert [r.status_code for r in responses] == [200] * 61 + [403] * 5
    assert [r.json()["status"] for r in responses[:61]] == ["accepted"] * 60 + ["duplicate"]
    assert sum(sizes) == len(requests) and max(sizes) > 1
    rows = stored()
    assert sorted(e.status for e in rows) == ["accepted"] * 60 + ["duplicate"] + ["rejected"] * 5


def test_a_delivery_that_breaks_its_batch_fails_alone(
    configured: None, database: Any, monkeypatch: pytest.MonkeyPatch, make_app: AppFactory
) -> None:
    poison = dropbox_body("dbid:poison")
    record = webhooks.record_deliveries

    poisoned_batches: list[int] = []
    bodies = [dropbox_body(f"dbid:fine-{i}") for i in range(20)]
    bodies.insert(10, poison)
    held = False

    def fragile(**kwargs: Any) -> Any:
        nonlocal held
        if not held:
            # Hold the first batch until every other request queued behind it: then the poison
            # shares a batch with others however the event loop happened to schedule them (a
            # loaded machine could otherwise hand it over alone, and the test prove nothing).
            held = True
            deadline = time.monotonic() + 10
            waiting = len(bodies) - len(kwargs["deliveries"])
            while len(recorder._pending) < waiting and time.monotonic() < deadline:
                time.sleep(0.005)
        if any(d.body == poison for d in kwargs["deliveries"]):
            poisoned_batches.append(len(kwargs["deliveries"]))
            raise RuntimeError("the database went away")
        return record(**kwargs)

    monkeypatch.setattr(webhooks, "record_deliveries", fragile)

    responses = send_together(make_app(), [(b, dropbox_signature(b)) for b in bodies])

    assert [r.status_code for r in responses] == [200] * 10 + [500] + [200] * 10
    assert (
        poisoned_batches[0] > 1 and poisoned_batches[-1] == 1
    )  # failed with others, retried alone
    assert len(stored()) == 20


# -- management routes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/webhooks/events",
        "/api/webhooks/events/1",
        "/api/webhooks/statistics",
        "/api/webhooks/health",
        "/api/webhooks/providers",
    ],
)
def test_management_routes_need_a_token(client: TestClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_events_list_and_detail(
    client: TestClient, configured: None, auth_headers: dict[str, str]
) -> None:
    post_dropbox(client, DROPBOX_BODY)
    client.post(DRIVE, headers=drive_headers("sync", 1))
    post_dropbox(client, DROPBOX_BODY, "2" * 64)

    response = client.get("/api/webhooks/events", headers=auth_headers)
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "3"
    newest, drive_event, dropbox_event = response.json()
    assert set(newest) >= {"id", "timestamp", "provider", "event_type", "status", "data"}
    assert (newest["status"], newest["provider"]) == ("rejected", "dropbox")
    assert dropbox_event["data"]["list_folder"]["accounts"] == [DROPBOX_ACCOUNT]
    assert drive_event["data"]["x-goog-resource-state"] == "sync"

    filtered = client.get(
        "/api/webhooks/events",
        params={"provider": "dropbox", "status": "accepted", "limit": 5},
        headers=auth_headers,
    ).json()
    assert [e["id"] for e in filtered] == [dropbox_event["id"]]
    assert (
        client.get(
            "/api/webhooks/events", params={"since": "2999-01-01T00:00:00Z"}, headers=auth_headers
        ).json()
        == []
    )
    assert (
        client.get("/api/webhooks/events", params={"provider": "box"}, headers=auth_headers)
    ).status_code == 422

    detail = client.get(f"/api/webhooks/events/{newest['id']}", headers=auth_headers).json()
    assert detail["verification"] == "wrong signature"
    assert detail["body"] is None
    assert (
        detail["body_sha256"] == "ae44b05ec79f442bafca227e3a15b6840717c81c90f634a2c894361fc12f9e8a"
    )
    missing = client.get("/api/webhooks/events/99999", headers=auth_headers)
    assert missing.status_code == 404 and "99999" in missing.json()["detail"]


def test_statistics_health_and_providers(
    client: TestClient, configured: None, auth_headers: dict[str, str]
) -> None:
    post_dropbox(client, DROPBOX_BODY)
    post_dropbox(client, DROPBOX_BODY)
    client.post(DRIVE, headers=drive_headers("sync", 1))
    post_graph(client, graph_body(graph_item(client_state="bad")))

    stats = client.get("/api/webhooks/statistics", headers=auth_headers).json()
    assert stats["by_provider"] == {"dropbox": 2, "google-drive": 1, "onedrive": 1}
    assert stats["by_status"] == {"accepted": 2, "duplicate": 1, "rejected": 1}
    assert stats["by_type"] == {"notification": 3, "sync": 1}
    assert len(stats["per_day"]) == 14 and stats["per_day"][-1]["total"] == 4
    assert (stats["events_today"], stats["rejected_today"]) == (4, 1)

    health = client.get("/api/webhooks/health", headers=auth_headers).json()
    assert health["status"] == "ok"
    assert health["providers"] == {"dropbox": True, "google-drive": True, "onedrive": True}

    providers = client.get("/api/webhooks/providers", headers=auth_headers).json()
    assert [p["provider"] for p in providers] == ["dropbox", "google-drive", "onedrive"]
    dropbox = providers[0]
    assert dropbox["webhook_url"] == "http://localhost:3000/api/webhooks/dropbox"
    assert (dropbox["events"], dropbox["accepted"], dropbox["duplicate"]) == (2, 1, 1)
    assert dropbox["configured"] is True
    onedrive = providers[2]
    assert onedrive["last_error"] == "Notification 1 has a wrong clientState."
    assert providers[1]["last_sync_channel"] == DRIVE_CHANNEL


def test_health_without_secrets_says_not_configured(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    health = client.get("/api/webhooks/health", headers=auth_headers).json()

    assert health["status"] == "not configured"
    assert health["events_today"] == 0


# -- fuzz -----------------------------------------------------------------------------------------


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    choice = rng.randrange(5)
    position = rng.randrange(len(data) + (1 if choice == 1 else 0))
    if choice == 0:  # flip bits in one byte
        return (
            data[:position] + bytes([data[position] ^ rng.randrange(1, 256)]) + data[position + 1 :]
        )
    if choice == 1:  # insert a byte
        return data[:position] + bytes([rng.randrange(256)]) + data[position:]
    if choice == 2:  # drop a byte
        return data[:position] + data[position + 1 :]
    if choice == 3:  # truncate
        return data[:position]
    return data + rng.choice([b" ", b"\n", b"\x00", b"}", b"A"])  # append


def _mutate_text(rng: random.Random, text: str) -> str:
    mutated = _mutate_bytes(rng, text.encode()).decode("latin-1")
    if rng.random() < 0.1:
        mutated = rng.choice([text.upper(), " " + text, text + " ", text[::-1], ""])
    return mutated


def _dropbox_case(rng: random.Random) -> tuple[str, dict[str, str], bytes]:
    body, signature = DROPBOX_BODY, DROPBOX_SIGNATURE
    headers = {"Content-Type": "application/json"}
    roll = rng.random()
    if roll < 0.45:
        body = _mutate_bytes(rng, body)
    elif roll < 0.8:
        signature = _mutate_text(rng, signature)
    elif roll < 0.9:
        body, signature = _mutate_bytes(rng, body), _mutate_text(rng, signature)
    else:  # the signature under another name, or signed with a near-miss secret
        if rng.random() < 0.5:
            headers["X-Dropbox-Signatur"] = signature
            signature = ""
        else:
            signature = dropbox_signature(body, _mutate_text(rng, "test-app-secret"))
    if signature:
        headers["X-Dropbox-Signature"] = signature
    return DROPBOX, headers, body


def _drive_case(rng: random.Random) -> tuple[str, dict[str, str], bytes]:
    headers = drive_headers("update", rng.randrange(1, 10**6))
    if rng.random() < 0.85:
        headers["X-Goog-Channel-Token"] = _mutate_text(rng, GOOGLE_TOKEN)
    else:
        token = headers.pop("X-Goog-Channel-Token")
        headers[rng.choice(["X-Goog-Channel-Tokens", "X-Goog-Token", "Authorization"])] = token
    return DRIVE, headers, b""


def _graph_case(rng: random.Random) -> tuple[str, dict[str, str], bytes]:
    items = [graph_item(item_id=f"n-{rng.randrange(10**9)}") for _ in range(rng.randrange(1, 5))]
    victim = rng.choice(items)
    roll = rng.random()
    if roll < 0.7:
        victim["clientState"] = _mutate_text(rng, ONEDRIVE_SECRET)
    elif roll < 0.85:
        del victim["clientState"]
    else:
        victim["clientState"] = rng.choice(
            [None, 0, True, [ONEDRIVE_SECRET], {"v": ONEDRIVE_SECRET}]
        )
    return ONEDRIVE, {"Content-Type": "application/json"}, graph_body(*items)


def test_fuzzed_notifications_are_never_accepted(
    client: TestClient, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of seeded mutations of the verified parts (Dropbox body and signature, the
    Drive channel token, a Graph item's clientState): every one is refused and recorded as
    rejected; only the unmutated originals are accepted."""
    # One client sends all of them: with an empty window its rejections never add up.
    monkeypatch.setattr(webhooks, "REJECTION_WINDOW", timedelta(0))
    rng = random.Random(20261204)
    originals = [
        (DROPBOX, {"X-Dropbox-Signature": DROPBOX_SIGNATURE}, DROPBOX_BODY),
        (DRIVE, drive_headers("update", 11), b""),
        (ONEDRIVE, {}, graph_body(graph_item(item_id="orig"))),
    ]
    for path, headers, body in originals:
        assert client.post(path, headers=headers, content=body).json()["status"] == "accepted"

    makers = [_dropbox_case] * 5 + [_drive_case] * 2 + [_graph_case] * 2
    statuses: dict[int, int] = {}
    mutations = 0
    while mutations < 3000:
        path, headers, body = rng.choice(makers)(rng)
        signature = headers.get("X-Dropbox-Signature")
        if path == DROPBOX and signature == DROPBOX_SIGNATURE and body == DROPBOX_BODY:
            continue  # the mutation happened to restore the original
        raw_headers = {name: value.encode("latin-1") for name, value in headers.items()}
        response = client.post(path, headers=raw_headers, content=body)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code in (400, 401, 403), (path, headers, body, response.text)
        mutations += 1

    rows = stored()
    assert sum(1 for e in rows if e.status != "rejected") == len(originals)
    assert sum(1 for e in rows if e.status == "rejected") == mutations
    assert statuses.get(403, 0) > 1000 and statuses.get(401, 0) > 50
