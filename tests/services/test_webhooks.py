"""Webhook verification, recording, deduplication, throttling, retention and reports, called
as the receivers call them (raw bytes, the headers as sent, a client address)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from finapp.models import WebhookEvent
from finapp.services import webhooks
from finapp.services.errors import Forbidden, InvalidInput, RateLimited, Unauthorized
from tests.conftest import reload_settings
from tests.webhook_samples import (
    DRIVE_CHANNEL,
    DROPBOX_ACCOUNT,
    DROPBOX_BODY,
    DROPBOX_SIGNATURE,
    GOOGLE_TOKEN,
    GRAPH_SUBSCRIPTION,
    ONEDRIVE_SECRET,
    SECRETS_ENV,
    drive_headers,
    dropbox_body,
    dropbox_signature,
    graph_body,
    graph_item,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CLIENT = "192.0.2.10"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS_ENV.items():
        monkeypatch.setenv(name, value)
    reload_settings()


def events(session: Session) -> list[WebhookEvent]:
    return list(session.exec(select(WebhookEvent).order_by(col(WebhookEvent.id))).all())


def dropbox(session: Session, body: bytes = DROPBOX_BODY, signature: str | None = None, **kw):
    headers = {"Content-Type": "application/json"}
    if signature != "":
        headers["X-Dropbox-Signature"] = signature or dropbox_signature(body)
    return webhooks.receive_dropbox(
        session=session,
        body=body,
        headers=headers,
        client=kw.get("client", CLIENT),
        now=kw.get("now", NOW),
    )


def drive(session: Session, headers: dict[str, str], **kw):
    return webhooks.receive_google_drive(
        session=session,
        body=b"",
        headers=headers,
        client=kw.get("client", CLIENT),
        now=kw.get("now", NOW),
    )


def graph(session: Session, body: bytes, **kw):
    return webhooks.receive_onedrive(
        session=session,
        body=body,
        headers={"Content-Type": "application/json"},
        client=kw.get("client", CLIENT),
        now=kw.get("now", NOW),
    )


# -- Dropbox --------------------------------------------------------------------------------------


def test_dropbox_reference_vector_is_accepted(session: Session, configured: None) -> None:
    receipt = dropbox(session, DROPBOX_BODY, DROPBOX_SIGNATURE)

    assert (receipt.status, receipt.accepted, receipt.duplicates) == ("accepted", 1, 0)
    [event] = events(session)
    assert (event.provider, event.status, event.verified) == ("dropbox", "accepted", True)
    assert event.verification == "signature ok"
    assert event.account == DROPBOX_ACCOUNT
    assert event.body == DROPBOX_BODY.decode()
    assert webhooks.event_data(event)["delta"] == {"users": [12345678]}


def test_dropbox_signature_covers_the_raw_bytes(session: Session, configured: None) -> None:
    """The same JSON re-serialised is different bytes: the signature no longer matches."""
    reformatted = json.dumps(json.loads(DROPBOX_BODY), separators=(",", ":")).encode()

    with pytest.raises(Forbidden):
        dropbox(session, reformatted, DROPBOX_SIGNATURE)

    [event] = events(session)
    assert (event.status, event.verification, event.body) == ("rejected", "wrong signature", None)


def test_rejects_forged_signature_and_keeps_only_the_hash(
    session: Session, configured: None
) -> None:
    forged = dropbox_signature(DROPBOX_BODY, secret="guessed-secret")

    with pytest.raises(Forbidden):
        dropbox(session, DROPBOX_BODY, forged)

    [event] = events(session)
    assert event.status == "rejected"
    assert event.verified is False
    assert event.body is None
    assert event.body_sha256 == "ae44b05ec79f442bafca227e3a15b6840717c81c90f634a2c894361fc12f9e8a"
    assert event.headers["x-dropbox-signature"] == webhooks.REDACTED
    assert event.client == CLIENT
    assert event.error == "Invalid X-Dropbox-Signature."


def test_missing_signature_is_unauthorized(session: Session, configured: None) -> None:
    with pytest.raises(Unauthorized):
        dropbox(session, DROPBOX_BODY, "")

    [event] = events(session)
    assert (event.status, event.verification) == ("rejected", "missing signature")
    assert "x-dropbox-signature" not in event.headers


def test_signed_malformed_json_is_rejected_after_verification(
    session: Session, configured: None
) -> None:
    for body in (b'{"list_folder": ', b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(InvalidInput):
            dropbox(session, body)

    rows = events(session)
    assert [r.status for r in rows] == ["rejected"] * 3
    assert all(r.verified and r.verification == "signature ok" for r in rows)
    assert rows[0].error == "Malformed JSON body."
    assert rows[1].error == "Expected a JSON object."


def test_dropbox_redelivery_within_ten_minutes_is_a_duplicate(
    session: Session, configured: None
) -> None:
    first = dropbox(session)
    again = dropbox(session, now=NOW + timedelta(minutes=9))
    other = dropbox(session, dropbox_body("dbid:other"), now=NOW + timedelta(minutes=9))
    later = dropbox(session, now=NOW + timedelta(minutes=11))

    assert [first.status, again.status, other.status, later.status] == [
        "accepted",
        "duplicate",
        "accepted",
        "accepted",
    ]
    assert [e.dedupe_key for e in events(session)][:2] == [
        events(session)[0].body_sha256,
        events(session)[0].body_sha256,
    ]


def test_dropbox_records_every_batched_account(session: Session, configured: None) -> None:
    dropbox(session, dropbox_body("dbid:a", "dbid:b", users=(1, 2)))

    [event] = events(session)
    assert event.account == "dbid:a dbid:b"
    assert webhooks.event_data(event)["delta"]["users"] == [1, 2]


# -- Google Drive ---------------------------------------------------------------------------------


def test_drive_sync_example_records_the_channel_start(session: Session, configured: None) -> None:
    receipt = drive(session, drive_headers("sync", 1))

    assert receipt.status == "accepted"
    [event] = events(session)
    assert (event.event_type, event.account) == ("sync", DRIVE_CHANNEL)
    assert event.dedupe_key == f"{DRIVE_CHANNEL}:1"
    assert event.headers["x-goog-channel-token"] == webhooks.REDACTED
    assert event.headers["x-goog-resource-state"] == "sync"
    [drive_status] = [
        p for p in webhooks.provider_status(session=session) if p.provider == "google-drive"
    ]
    assert drive_status.last_sync_channel == DRIVE_CHANNEL
    assert drive_status.last_sync_at == NOW


def test_drive_update_example_is_accepted(session: Session, configured: None) -> None:
    drive(session, drive_headers("sync", 1))
    receipt = drive(session, drive_headers("update", 11, changed="content,properties"))

    assert receipt.status == "accepted"
    event = events(session)[-1]
    assert event.event_type == "update"
    assert event.headers["x-goog-changed"] == "content,properties"
    assert webhooks.event_data(event)["x-goog-message-number"] == "11"


def test_drive_repeated_message_number_is_a_duplicate(session: Session, configured: None) -> None:
    drive(session, drive_headers("update", 11))
    repeated = drive(session, drive_headers("update", 11), now=NOW + timedelta(days=2))
    next_one = drive(session, drive_headers("update", 12))
    other_channel = drive(session, drive_headers("update", 11, channel="another-channel"))

    assert repeated.status == "duplicate"
    assert next_one.status == "accepted"
    assert other_channel.status == "accepted"


def test_drive_changed_and_change_are_both_changes(session: Session, configured: None) -> None:
    drive(session, drive_headers("change", 2))
    drive(session, drive_headers("changed", 3))

    assert [e.event_type for e in events(session)] == ["change", "change"]


def test_drive_unknown_state_is_accepted_as_unknown(session: Session, configured: None) -> None:
    receipt = drive(session, drive_headers("Exploded <script>", 5))

    assert receipt.status == "accepted"
    assert events(session)[0].event_type == "unknown:exploded_script_"


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("X-Goog-Channel-ID", "X-Goog-Channel-ID"),
        ("X-Goog-Resource-ID", "X-Goog-Resource-ID"),
        ("X-Goog-Resource-State", "X-Goog-Resource-State"),
        ("X-Goog-Message-Number", "X-Goog-Message-Number"),
    ],
)
def test_drive_missing_required_header_is_400(
    session: Session, configured: None, drop: str, expected: str
) -> None:
    headers = drive_headers("update", 4)
    del headers[drop]

    with pytest.raises(InvalidInput, match=expected):
        drive(session, headers)

    [event] = events(session)
    assert (event.status, event.verified, event.verification) == ("rejected", True, "token ok")


def test_drive_message_number_must_be_a_number(session: Session, configured: None) -> None:
    headers = drive_headers("update", 4)
    headers["X-Goog-Message-Number"] = "4; drop table"
    with pytest.raises(InvalidInput, match="not a number"):
        drive(session, headers)


def test_drive_token_is_checked(session: Session, configured: None) -> None:
    with pytest.raises(Unauthorized):
        drive(session, drive_headers(token=None))
    with pytest.raises(Forbidden):
        drive(session, drive_headers(token=GOOGLE_TOKEN + "x"))
    with pytest.raises(Forbidden):
        drive(session, drive_headers(token=GOOGLE_TOKEN.upper()))

    assert [e.verification for e in events(session)] == [
        "missing token",
        "wrong token",
        "wrong token",
    ]


# -- OneDrive / Graph -----------------------------------------------------------------------------


def test_graph_notification_is_accepted_per_item(session: Session, configured: None) -> None:
    receipt = graph(session, graph_body(graph_item(item_id="n-1"), graph_item(item_id="n-2")))

    assert (receipt.accepted, receipt.duplicates) == (2, 0)
    rows = events(session)
    assert [(e.event_type, e.account, e.dedupe_key) for e in rows] == [
        ("updated", GRAPH_SUBSCRIPTION, "id:n-1"),
        ("updated", GRAPH_SUBSCRIPTION, "id:n-2"),
    ]
    for row in rows:
        assert ONEDRIVE_SECRET not in (row.body or "")
        assert json.loads(row.body or "")["clientState"] == webhooks.REDACTED


def test_graph_one_bad_client_state_rejects_the_whole_batch(
    session: Session, configured: None
) -> None:
    body = graph_body(graph_item(item_id="a"), graph_item(item_id="b", client_state="nope"))

    with pytest.raises(Forbidden, match="Notification 2"):
        graph(session, body)

    [event] = events(session)
    assert (event.status, event.verification, event.body) == ("rejected", "wrong clientState", None)


@pytest.mark.parametrize("client_state", [None, "", 12345, ["x"]])
def test_graph_item_without_client_state_is_unauthorized(
    session: Session, configured: None, client_state: object
) -> None:
    item = graph_item(item_id="b")
    if client_state is None:
        del item["clientState"]
    else:
        item["clientState"] = client_state
    with pytest.raises(Unauthorized):
        graph(session, graph_body(graph_item(item_id="a"), item))

    assert [e.status for e in events(session)] == ["rejected"]


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"value": []}', b'{"value": "x"}', b'{"value": [1]}']
)
def test_graph_malformed_batches_are_400(session: Session, configured: None, body: bytes) -> None:
    with pytest.raises(InvalidInput):
        graph(session, body)

    [event] = events(session)
    assert (event.status, event.verified) == ("rejected", False)


def test_graph_lifecycle_event_is_recorded_and_shown_in_provider_status(
    session: Session, configured: None
) -> None:
    graph(session, graph_body(graph_item(lifecycle="reauthorizationRequired")))

    [event] = events(session)
    assert event.event_type == "lifecycle:reauthorizationRequired"
    [status] = [p for p in webhooks.provider_status(session=session) if p.provider == "onedrive"]
    assert status.last_lifecycle_event == "reauthorizationRequired"
    assert status.last_lifecycle_at == NOW


def test_graph_same_item_id_is_a_duplicate(session: Session, configured: None) -> None:
    graph(session, graph_body(graph_item(item_id="n-1")))
    again = graph(session, graph_body(graph_item(item_id="n-1")), now=NOW + timedelta(hours=3))
    both = graph(session, graph_body(graph_item(item_id="n-2"), graph_item(item_id="n-2")))

    assert again.status == "duplicate"
    assert (both.accepted, both.duplicates) == (1, 1)


def test_graph_items_without_id_are_deduplicated_by_content(
    session: Session, configured: None
) -> None:
    item = graph_item()
    graph(session, graph_body(item))
    again = graph(session, graph_body(item), now=NOW + timedelta(minutes=5))
    much_later = graph(session, graph_body(item), now=NOW + timedelta(minutes=30))

    assert (again.status, much_later.status) == ("duplicate", "accepted")
    keys = {e.dedupe_key for e in events(session)}
    assert len(keys) == 1 and next(iter(keys)).startswith("item:")


# -- configuration, throttling, secrets -----------------------------------------------------------


def test_unconfigured_providers_reject_everything(session: Session) -> None:
    with pytest.raises(Forbidden, match="DROPBOX_WEBHOOK_SECRET"):
        dropbox(session)
    with pytest.raises(Forbidden, match="GOOGLE_WEBHOOK_SECRET"):
        drive(session, drive_headers())
    with pytest.raises(Forbidden, match="ONEDRIVE_WEBHOOK_SECRET"):
        graph(session, graph_body(graph_item()))

    rows = events(session)
    assert [(e.provider, e.status, e.verification) for e in rows] == [
        ("dropbox", "rejected", "not configured"),
        ("google-drive", "rejected", "not configured"),
        ("onedrive", "rejected", "not configured"),
    ]
    assert all(e.body is None for e in rows)


def test_blank_secret_means_not_configured(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROPBOX_WEBHOOK_SECRET", "  ")
    reload_settings()

    with pytest.raises(Forbidden, match="not configured"):
        dropbox(session, DROPBOX_BODY, dropbox_signature(DROPBOX_BODY, secret=""))


def test_a_client_with_many_rejections_is_throttled(session: Session, configured: None) -> None:
    for second in range(webhooks.REJECTION_LIMIT):
        with pytest.raises(Forbidden):
            dropbox(session, signature="0" * 64, now=NOW + timedelta(seconds=second))

    later = NOW + timedelta(seconds=40)
    with pytest.raises(RateLimited) as throttled:
        dropbox(session, now=later)  # even a valid one: the client is on hold
    # The first rejection (at NOW) leaves the 60 s window at NOW + 60 s.
    assert throttled.value.retry_after_seconds == 20
    assert dropbox(session, client="198.51.100.1", now=later).status == "accepted"
    assert dropbox(session, now=NOW + timedelta(seconds=61)).status == "duplicate"
    assert len(events(session)) == webhooks.REJECTION_LIMIT + 2  # throttled ones are not stored


def test_no_secret_is_ever_stored(session: Session, configured: None) -> None:
    dropbox(session)
    drive(session, drive_headers("update", 7))
    graph(session, graph_body(graph_item(item_id="x"), graph_item(lifecycle="missed")))
    for attempt in (
        lambda: dropbox(session, signature="f" * 64),
        lambda: drive(session, drive_headers(token="wrong")),
        lambda: graph(session, graph_body(graph_item(client_state="wrong"))),
        lambda: graph(session, b"{" + ONEDRIVE_SECRET.encode()),
    ):
        with pytest.raises((Forbidden, InvalidInput)):
            attempt()

    stored = json.dumps([e.model_dump(mode="json") for e in events(session)])
    for secret in (*SECRETS_ENV.values(), DROPBOX_SIGNATURE):
        assert secret not in stored


# -- echo handshakes ------------------------------------------------------------------------------


def test_challenges_are_echoed_within_a_length_cap() -> None:
    assert webhooks.dropbox_challenge("abc123") == "abc123"
    assert webhooks.onedrive_validation("Validation: x") == "Validation: x"
    assert webhooks.dropbox_challenge("x" * 1000) == "x" * 1000
    with pytest.raises(InvalidInput):
        webhooks.dropbox_challenge("x" * 1001)
    with pytest.raises(InvalidInput):
        webhooks.onedrive_validation("")
    with pytest.raises(InvalidInput):
        webhooks.dropbox_challenge(None)


# -- retention ------------------------------------------------------------------------------------


def add_events(session: Session, count: int, at: datetime, status: str = "accepted") -> None:
    for i in range(count):
        webhooks.record_event(
            session=session,
            provider="dropbox",
            event_type="notification",
            status=status,
            verified=status != "rejected",
            verification="signature ok",
            client=CLIENT,
            headers={},
            body_sha256=f"{i:064x}",
            now=at + timedelta(seconds=i),
        )


def test_prune_removes_old_events_and_keeps_the_newest_max(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINAPP_WEBHOOK_RETENTION_DAYS", "30")
    monkeypatch.setenv("FINAPP_WEBHOOK_MAX_EVENTS", "100")
    reload_settings()
    add_events(session, 20, NOW - timedelta(days=31))
    add_events(session, 130, NOW - timedelta(days=1))

    assert webhooks.prune_events(session=session, now=NOW) == 20 + 30

    remaining = events(session)
    assert len(remaining) == 100
    oldest = min(e.received_at for e in remaining)
    assert oldest == NOW - timedelta(days=1) + timedelta(seconds=30)


def test_prune_runs_on_insert_at_most_once_a_minute(
    session: Session, configured: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "_last_prune", None)
    add_events(session, 5, NOW - timedelta(days=400))
    dropbox(session)  # the first insert in this process prunes
    assert len(events(session)) == 1

    add_events(session, 5, NOW - timedelta(days=400))
    dropbox(session, dropbox_body("dbid:second"))  # within the minute: no second prune
    assert len(events(session)) == 7

    monkeypatch.setattr(webhooks, "_last_prune", webhooks._last_prune - 61)
    dropbox(session, dropbox_body("dbid:third"))
    assert len(events(session)) == 3


# -- reports --------------------------------------------------------------------------------------


def test_statistics_by_provider_type_status_and_day(session: Session, configured: None) -> None:
    dropbox(session, now=NOW - timedelta(days=2))
    dropbox(session, now=NOW - timedelta(days=2, minutes=-1))
    drive(session, drive_headers("sync", 1))
    graph(session, graph_body(graph_item(item_id="1")), now=NOW - timedelta(days=20))
    with pytest.raises(Forbidden):
        dropbox(session, signature="0" * 64)

    stats = webhooks.statistics(session=session, now=NOW)

    assert stats["total"] == 5
    assert stats["by_provider"] == {"dropbox": 3, "google-drive": 1, "onedrive": 1}
    assert stats["by_status"] == {"accepted": 3, "duplicate": 1, "rejected": 1}
    assert stats["by_type"] == {"notification": 3, "sync": 1, "updated": 1}
    days = stats["per_day"]
    assert len(days) == 14
    assert days[-1] == {
        "date": "2026-12-04",
        "total": 2,
        "accepted": 1,
        "duplicate": 0,
        "rejected": 1,
    }
    assert days[-3] == {
        "date": "2026-12-02",
        "total": 2,
        "accepted": 1,
        "duplicate": 1,
        "rejected": 0,
    }
    assert sum(d["total"] for d in days) == 4  # the 20-day-old Graph event is outside
    assert (stats["events_today"], stats["rejected_today"]) == (2, 1)


def test_days_follow_the_requested_zone(session: Session, configured: None) -> None:
    late_evening_utc = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)  # already Dec 4 in Berlin
    dropbox(session, now=late_evening_utc)

    utc = webhooks.today_counts(session=session, zone="UTC", now=NOW)
    berlin = webhooks.today_counts(session=session, zone="Europe/Berlin", now=NOW)

    assert (utc["events_today"], berlin["events_today"]) == (0, 1)


def test_list_events_filters_and_pages(session: Session, configured: None) -> None:
    dropbox(session, now=NOW - timedelta(hours=2))
    drive(session, drive_headers("sync", 1), now=NOW - timedelta(hours=1))
    with pytest.raises(Forbidden):
        dropbox(session, signature="0" * 64)

    everything, total = webhooks.list_events(session=session)
    assert total == 3
    assert [e.provider for e in everything] == ["dropbox", "google-drive", "dropbox"]

    rejected, total = webhooks.list_events(session=session, status="rejected")
    assert total == 1 and rejected[0].status == "rejected"
    recent, total = webhooks.list_events(session=session, since=NOW - timedelta(minutes=90))
    assert total == 2 and {e.provider for e in recent} == {"dropbox", "google-drive"}
    page, total = webhooks.list_events(session=session, provider="dropbox", limit=1, offset=1)
    assert total == 2 and page[0].status == "accepted"
    with pytest.raises(InvalidInput):
        webhooks.list_events(session=session, provider="box")


def test_provider_status_urls_use_the_public_url(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "8123")
    reload_settings()
    assert webhooks.webhook_url("dropbox") == "http://localhost:8123/api/webhooks/dropbox"

    monkeypatch.setenv("FINAPP_PUBLIC_URL", "https://finance.example.com/")
    monkeypatch.setenv("GOOGLE_WEBHOOK_SECRET", GOOGLE_TOKEN)
    reload_settings()
    statuses = {p.provider: p for p in webhooks.provider_status(session=session)}

    assert statuses["onedrive"].webhook_url == "https://finance.example.com/api/webhooks/onedrive"
    assert [p.configured for p in statuses.values()] == [False, True, False]
    assert statuses["dropbox"].events == 0


def test_hot_queries_use_their_indexes(session: Session) -> None:
    """Both lookups run for every batch of requests: neither may walk the table."""

    def plan(sql: str, *params: object) -> str:
        return str(session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all())

    throttle = plan(
        "SELECT received_at FROM webhook_event WHERE client = ? AND status = 'rejected' "
        "AND received_at > ? ORDER BY received_at DESC LIMIT 30",
        CLIENT,
        "2026-01-01",
    )
    dedupe = plan(
        "SELECT provider, dedupe_key, status, received_at FROM webhook_event "
        "WHERE dedupe_key IN (?, ?)",
        "a",
        "b",
    )
    assert "ix_webhook_event_client_status_received" in throttle
    assert "ix_webhook_event_dedupe_key" in dedupe


# -- batches (what the API's group commit hands over) ---------------------------------------------


def delivery(body: bytes = DROPBOX_BODY, signature: str | None = None, **kw) -> webhooks.Delivery:
    headers = {"X-Dropbox-Signature": signature or dropbox_signature(body)}
    return webhooks.Delivery("dropbox", body, headers, kw.get("client", CLIENT), kw.get("at", NOW))


def test_verify_needs_no_database(configured: None) -> None:
    assert webhooks.verify(delivery()) == [
        webhooks.Notification(
            event_type="notification",
            account=DROPBOX_ACCOUNT,
            dedupe_key=delivery().body_sha256,
            window=webhooks.CONTENT_DEDUPE_WINDOW,
            body=DROPBOX_BODY.decode(),
        )
    ]
    refused = webhooks.verify(delivery(signature="0" * 64))
    assert isinstance(refused, webhooks.Rejection)
    assert (refused.verification, type(refused.error)) == ("wrong signature", Forbidden)


def test_a_batch_answers_each_delivery_in_order(session: Session, configured: None) -> None:
    outcomes = webhooks.record_deliveries(
        session=session,
        deliveries=[
            delivery(),
            delivery(signature="0" * 64),
            delivery(),  # the same body again in the same batch
            delivery(dropbox_body("dbid:other")),
        ],
    )

    assert outcomes[0] == webhooks.Receipt(accepted=1, duplicates=0)
    assert isinstance(outcomes[1], Forbidden)
    assert outcomes[2] == webhooks.Receipt(accepted=0, duplicates=1)
    assert outcomes[3] == webhooks.Receipt(accepted=1, duplicates=0)
    assert [e.status for e in events(session)] == ["accepted", "rejected", "duplicate", "accepted"]


def test_a_burst_of_bad_requests_in_one_batch_is_throttled(
    session: Session, configured: None
) -> None:
    burst = [delivery(signature="0" * 64, at=NOW + timedelta(milliseconds=i)) for i in range(40)]
    burst.append(delivery(client="198.51.100.2", at=NOW + timedelta(seconds=1)))

    outcomes = webhooks.record_deliveries(session=session, deliveries=burst)

    assert [type(o).__name__ for o in outcomes[:31]] == ["Forbidden"] * 30 + ["RateLimited"]
    assert all(isinstance(o, RateLimited) for o in outcomes[30:40])
    assert outcomes[40] == webhooks.Receipt(accepted=1, duplicates=0)
    assert webhooks.rejection_wait(session=session, client=CLIENT, now=NOW) == 60
    assert len(events(session)) == 31
