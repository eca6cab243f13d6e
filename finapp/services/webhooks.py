"""Cloud-storage change notifications (Dropbox, Google Drive, OneDrive): verify, deduplicate,
record — and report on what arrived.

A request to a receiver is a `Delivery`. `verify` decides, without touching the database,
whether it is genuine: the provider must have a secret configured, then Dropbox's HMAC is checked
on the raw bytes before anything is parsed, Drive's channel token or every Graph item's
clientState in constant time, and only then the content. `record_deliveries` throttles clients
with too many recent rejections, verifies, deduplicates and records a whole batch of deliveries
in one transaction — the API feeds it every request that arrived while the previous batch was
being written, so a burst costs one commit, not one per request.

Every outcome becomes a `WebhookEvent`; a rejected one keeps metadata and the body's sha256,
never the body. No secret is stored: signature and token headers are kept as "[redacted]",
Graph's clientState likewise. Nothing else happens in the request: notifications only say
"something changed", and the pull of the actual changes reads the accepted events later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time as clock
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, insert
from sqlmodel import Session, col, delete, func, select

from finapp.db import utcnow
from finapp.models import WebhookEvent
from finapp.services.errors import (
    FinappError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthorized,
)
from finapp.settings import Settings, get_settings

logger = logging.getLogger(__name__)

PROVIDERS = ("dropbox", "google-drive", "onedrive")
PROVIDER_NAMES = {"dropbox": "Dropbox", "google-drive": "Google Drive", "onedrive": "OneDrive"}
SECRET_SETTINGS = {
    "dropbox": "DROPBOX_WEBHOOK_SECRET",
    "google-drive": "GOOGLE_WEBHOOK_SECRET",
    "onedrive": "ONEDRIVE_WEBHOOK_SECRET",
}
RECEIVER_PATH = "/api/webhooks/{provider}"
STATUSES = ("accepted", "duplicate", "rejected")

REJECTION_LIMIT = 30  # rejected requests per client inside the window before 429
REJECTION_WINDOW = timedelta(seconds=60)
# Dropbox bodies carry no delivery id: the same bytes again soon after are a redelivery (its
# retries run for about ten minutes). Graph items without an `id` are treated alike.
CONTENT_DEDUPE_WINDOW = timedelta(minutes=10)
MAX_ECHO_CHARS = 1000  # Dropbox challenge, Graph validationToken
MAX_STORED_BODY_CHARS = 64 * 1024
MAX_HEADER_CHARS = 512
MAX_CLIENT_CHARS = 128
MAX_DRIVE_CHANNEL_ID = 64  # Drive's own limit when the channel is created
PRUNE_EVERY_S = 60.0
REDACTED = "[redacted]"
_KEYS_PER_QUERY = 500  # dedupe keys per IN (…): well under SQLite's parameter limit

DRIVE_STATES = ("sync", "add", "remove", "update", "trash", "untrash", "change")
_KEPT_HEADERS = {
    "dropbox": ("x-dropbox-signature",),
    "google-drive": (
        "x-goog-channel-id",
        "x-goog-channel-token",
        "x-goog-channel-expiration",
        "x-goog-resource-id",
        "x-goog-resource-state",
        "x-goog-resource-uri",
        "x-goog-message-number",
        "x-goog-changed",
    ),
    "onedrive": (),
}
_COMMON_HEADERS = ("content-type", "content-length", "user-agent")
_SECRET_HEADERS = frozenset({"x-dropbox-signature", "x-goog-channel-token"})
_LABEL_JUNK = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Delivery:
    """One request to a receiver as it arrived, before anything in it is trusted."""

    provider: str  # one of PROVIDERS
    body: bytes  # the raw bytes, exactly as signed
    headers: Mapping[str, str]
    client: str  # the sender's address
    received_at: datetime = field(default_factory=utcnow)
    # Derived once here: every recorded delivery needs both, and on Python 3.11 a
    # cached_property takes a lock on each first access, a measurable cost per notification.
    body_sha256: str = field(init=False, repr=False, compare=False)
    lowered_headers: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "body_sha256", hashlib.sha256(self.body).hexdigest())
        lowered = {name.lower(): value for name, value in self.headers.items()}
        object.__setattr__(self, "lowered_headers", lowered)


@dataclass(frozen=True)
class Receipt:
    """The answer to a verified request: its new notifications and the redeliveries."""

    accepted: int
    duplicates: int

    @property
    def status(self) -> str:
        return "accepted" if self.accepted else "duplicate"


@dataclass(frozen=True)
class Notification:
    """One verified change notification, ready to be recorded."""

    event_type: str
    account: str  # Dropbox account(s), Drive channel id, Graph subscription id
    dedupe_key: str
    window: timedelta | None  # a repeat of the key later than this is new; None: never
    body: str


@dataclass(frozen=True)
class Rejection:
    """Why a delivery is refused; recorded, then answered with `error`."""

    verification: str  # e.g. "missing signature", "wrong token", "not configured"
    error: FinappError
    verified: bool = False  # True when the credential passed and the content did not


Outcome = Receipt | FinappError


# -- verification handshakes ----------------------------------------------------------------------


def dropbox_challenge(challenge: str | None) -> str:
    """The text to echo for Dropbox's `GET ?challenge=…` endpoint verification."""
    return _echo(challenge, "challenge")


def onedrive_validation(token: str | None) -> str:
    """The text to echo for Graph's `?validationToken=…` (already URL-decoded by the caller)."""
    return _echo(token, "validationToken")


def _echo(value: str | None, name: str) -> str:
    if not value:
        raise InvalidInput(f"Missing the {name} query parameter.")
    if len(value) > MAX_ECHO_CHARS:
        raise InvalidInput(f"The {name} is longer than {MAX_ECHO_CHARS} characters.")
    return value


# -- verification ---------------------------------------------------------------------------------


def verify(delivery: Delivery, settings: Settings | None = None) -> list[Notification] | Rejection:
    """Decide whether a delivery is genuine and well-formed; no database access."""
    settings = settings or get_settings()
    provider = delivery.provider
    secret = _secret_or_none(provider, settings)
    if secret is None:
        return Rejection(
            "not configured",
            Forbidden(
                f"{PROVIDER_NAMES[provider]} webhooks are not configured: "
                f"set {SECRET_SETTINGS[provider]}."
            ),
        )
    headers = delivery.lowered_headers
    if provider == "dropbox":
        return _verify_dropbox(delivery, headers, secret)
    if provider == "google-drive":
        return _verify_google_drive(delivery.body, headers, secret)
    return _verify_onedrive(delivery.body, secret)


def _verify_dropbox(
    delivery: Delivery, headers: dict[str, str], secret: bytes
) -> list[Notification] | Rejection:
    body = delivery.body
    signature = headers.get("x-dropbox-signature", "")
    if not signature:
        return Rejection("missing signature", Unauthorized("Missing X-Dropbox-Signature."))
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode(errors="replace")):
        return Rejection("wrong signature", Forbidden("Invalid X-Dropbox-Signature."))

    payload = _json_object(body)
    if isinstance(payload, InvalidInput):
        return Rejection("signature ok", payload, verified=True)
    list_folder = payload.get("list_folder")
    delta = payload.get("delta")
    accounts = _strings(list_folder.get("accounts") if isinstance(list_folder, dict) else None)
    users = _strings(delta.get("users") if isinstance(delta, dict) else None)
    return [
        Notification(
            event_type="notification",
            account=" ".join(accounts or users),
            dedupe_key=delivery.body_sha256,
            window=CONTENT_DEDUPE_WINDOW,
            body=_text(body),
        )
    ]


def _verify_google_drive(
    body: bytes, headers: dict[str, str], secret: bytes
) -> list[Notification] | Rejection:
    # Unknown resource states are accepted as `unknown:<state>`, not refused: Google may add
    # states, and refusing a verified message would only make it retry.
    token = headers.get("x-goog-channel-token", "")
    if not token:
        return Rejection("missing token", Unauthorized("Missing X-Goog-Channel-Token."))
    if not hmac.compare_digest(secret, token.encode(errors="replace")):
        return Rejection("wrong token", Forbidden("Invalid X-Goog-Channel-Token."))

    channel = headers.get("x-goog-channel-id", "").strip()
    number = headers.get("x-goog-message-number", "").strip()
    state = headers.get("x-goog-resource-state", "").strip().lower()
    required = {
        "X-Goog-Channel-ID": channel,
        "X-Goog-Resource-ID": headers.get("x-goog-resource-id", "").strip(),
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": number,
    }
    missing = [name for name, value in required.items() if not value]
    problem = None
    if missing:
        problem = f"Missing required header{'s' if len(missing) > 1 else ''}: {', '.join(missing)}."
    elif len(channel) > MAX_DRIVE_CHANNEL_ID:
        problem = f"X-Goog-Channel-ID is longer than {MAX_DRIVE_CHANNEL_ID} characters."
    elif not (number.isascii() and number.isdigit() and len(number) <= 20):
        problem = "X-Goog-Message-Number is not a number."
    if problem:
        return Rejection("token ok", InvalidInput(problem), verified=True)

    if state == "changed":  # the push guide's own example says "changed" for changes.watch
        state = "change"
    return [
        Notification(
            event_type=state if state in DRIVE_STATES else f"unknown:{_label(state)}",
            account=channel,
            dedupe_key=f"{channel}:{int(number)}",
            window=None,  # channel ids are unique and message numbers only grow
            body=_text(body),
        )
    ]


def _verify_onedrive(body: bytes, secret: bytes) -> list[Notification] | Rejection:
    # clientState travels inside the body, so it has to be parsed before it can be checked;
    # nothing from it is used until every item has passed. One bad item rejects the batch.
    payload = _json_object(body)
    if isinstance(payload, InvalidInput):
        return Rejection("not checked", payload)
    items = payload.get("value")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return Rejection(
            "not checked",
            InvalidInput('Expected {"value": [notification, …]} with at least one notification.'),
        )
    for position, item in enumerate(items, start=1):
        state = item.get("clientState")
        if not isinstance(state, str) or not state:
            error: FinappError = Unauthorized(f"Notification {position} has no clientState.")
            return Rejection("missing clientState", error)
        if not hmac.compare_digest(secret, state.encode(errors="replace")):
            error = Forbidden(f"Notification {position} has a wrong clientState.")
            return Rejection("wrong clientState", error)

    notifications = []
    for item in items:
        stored = {**item, "clientState": REDACTED}
        lifecycle = item.get("lifecycleEvent")
        change = item.get("changeType")
        if isinstance(lifecycle, str) and lifecycle:
            event_type = f"lifecycle:{_label(lifecycle, lower=False)}"  # Graph's camelCase
        elif isinstance(change, str) and change:
            event_type = _label(change)
        else:
            event_type = "notification"
        item_id = item.get("id")
        window: timedelta | None
        if isinstance(item_id, str) and item_id:
            dedupe_key, window = "id:" + _bounded(item_id), None
        else:  # no delivery id: the same item again soon after is a redelivery
            canonical = json.dumps(stored, sort_keys=True, separators=(",", ":"))
            dedupe_key = "item:" + hashlib.sha256(canonical.encode()).hexdigest()
            window = CONTENT_DEDUPE_WINDOW
        subscription = item.get("subscriptionId")
        notifications.append(
            Notification(
                event_type=event_type,
                account=subscription[:255] if isinstance(subscription, str) else "",
                dedupe_key=dedupe_key,
                window=window,
                body=json.dumps(stored, ensure_ascii=False)[:MAX_STORED_BODY_CHARS],
            )
        )
    return notifications


def _secret_or_none(provider: str, settings: Settings) -> bytes | None:
    value = {
        "dropbox": settings.dropbox_webhook_secret,
        "google-drive": settings.google_webhook_secret,
        "onedrive": settings.onedrive_webhook_secret,
    }[provider]
    return value.get_secret_value().encode() if value is not None else None


def _json_object(body: bytes) -> dict[str, Any] | InvalidInput:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return InvalidInput("Malformed JSON body.")
    if not isinstance(payload, dict):
        return InvalidInput("Expected a JSON object.")
    return payload


def _kept_headers(provider: str, headers: dict[str, str]) -> dict[str, str]:
    """The headers an event stores: the provider's own and a few common ones; secrets are kept
    only as present."""
    kept = {}
    for name in (*_COMMON_HEADERS, *_KEPT_HEADERS[provider]):
        if name in headers:
            kept[name] = REDACTED if name in _SECRET_HEADERS else headers[name][:MAX_HEADER_CHARS]
    return kept


def _text(body: bytes) -> str:
    head = body[: MAX_STORED_BODY_CHARS * 4]  # UTF-8 needs at most 4 bytes a character
    return head.decode("utf-8", errors="replace")[:MAX_STORED_BODY_CHARS]


def _strings(value: object, limit: int = 100) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v)[:200] for v in value[:limit] if isinstance(v, str | int) and v != ""]


def _label(value: str, *, lower: bool = True) -> str:
    """A provider-supplied word fit for an event type: plain characters, short."""
    value = value.strip().lower() if lower else value.strip()
    return _LABEL_JUNK.sub("_", value)[:40] or "empty"


def _bounded(value: str) -> str:
    return value if len(value) <= 100 else hashlib.sha256(value.encode()).hexdigest()


# -- recording ------------------------------------------------------------------------------------


def record_deliveries(*, session: Session, deliveries: Sequence[Delivery]) -> list[Outcome]:
    """Throttle, verify, deduplicate and record a batch of deliveries in one transaction.

    Returns, in order, each delivery's Receipt or the domain error to answer it with
    (RateLimited, Forbidden, Unauthorized, InvalidInput). Everything but a RateLimited is
    recorded; the caller commits before answering, so a 2xx always means stored.
    """
    settings = get_settings()
    book = _RejectionBook.of(session, deliveries)
    outcomes: list[Outcome | None] = []
    rows: list[list[dict[str, Any]]] = [[] for _ in deliveries]  # per delivery, in arrival order
    verified: list[tuple[int, Delivery, list[Notification]]] = []
    for index, delivery in enumerate(deliveries):
        # Before verification, so a client guessing a token gets no answer about its guesses.
        wait = book.wait(delivery.client, delivery.received_at)
        if wait:
            outcomes.append(RateLimited(wait, "webhook requests"))
            continue
        verdict = verify(delivery, settings)
        if isinstance(verdict, Rejection):
            rows[index].append(_row(delivery, verdict))
            book.add(delivery.client, delivery.received_at)
            outcomes.append(verdict.error)
            logger.warning(
                "Rejected %s webhook from %s: %s (%s)",
                delivery.provider,
                delivery.client,
                verdict.verification,
                verdict.error,
            )
        else:
            outcomes.append(None)
            verified.append((index, delivery, verdict))

    latest = _latest_accepted(
        session, ((d.provider, n.dedupe_key) for _, d, found in verified for n in found)
    )
    for index, delivery, notifications in verified:
        accepted = 0
        for notification in notifications:
            key = (delivery.provider, notification.dedupe_key)
            last = latest.get(key)
            duplicate = last is not None and (
                notification.window is None or last >= delivery.received_at - notification.window
            )
            if not duplicate:
                latest[key] = delivery.received_at
                accepted += 1
            rows[index].append(_row(delivery, notification, duplicate=duplicate))
        outcomes[index] = Receipt(accepted=accepted, duplicates=len(notifications) - accepted)

    flat = [row for delivered in rows for row in delivered]
    if flat:
        # One executemany for the batch, on the session's connection (same transaction): the
        # ORM's bulk insert costs more Python per batch than the rows themselves.
        session.connection().execute(_INSERT_EVENT, flat)
    if verified:
        _prune_now_and_then(session, max(d.received_at for d in deliveries))
    return [outcome for outcome in outcomes if outcome is not None]


def receive(*, session: Session, delivery: Delivery) -> Receipt:
    """One delivery on its own: its Receipt, or raises its domain error once it is recorded."""
    [outcome] = record_deliveries(session=session, deliveries=[delivery])
    if isinstance(outcome, FinappError):
        # The raise rolls the caller's unit of work back; the rejection must survive it, or
        # throttling would never count it.
        session.commit()
        raise outcome
    return outcome


def receive_dropbox(
    *,
    session: Session,
    body: bytes,
    headers: Mapping[str, str],
    client: str,
    now: datetime | None = None,
) -> Receipt:
    """A Dropbox notification signed with `X-Dropbox-Signature` (see `receive`)."""
    return receive(
        session=session, delivery=Delivery("dropbox", body, headers, client, now or utcnow())
    )


def receive_google_drive(
    *,
    session: Session,
    body: bytes,
    headers: Mapping[str, str],
    client: str,
    now: datetime | None = None,
) -> Receipt:
    """A Drive push notification carrying the channel token (see `receive`)."""
    delivery = Delivery("google-drive", body, headers, client, now or utcnow())
    return receive(session=session, delivery=delivery)


def receive_onedrive(
    *,
    session: Session,
    body: bytes,
    headers: Mapping[str, str],
    client: str,
    now: datetime | None = None,
) -> Receipt:
    """A Graph notification batch, every item carrying the clientState (see `receive`)."""
    delivery = Delivery("onedrive", body, headers, client, now or utcnow())
    return receive(session=session, delivery=delivery)


def _row(
    delivery: Delivery,
    outcome: Notification | Rejection,
    *,
    duplicate: bool = False,
) -> dict[str, Any]:
    common = {
        "provider": delivery.provider,
        "received_at": delivery.received_at,
        "client": delivery.client[:MAX_CLIENT_CHARS],
        "headers": _kept_headers(delivery.provider, delivery.lowered_headers),
        "body_sha256": delivery.body_sha256,
    }
    if isinstance(outcome, Rejection):
        return {
            **common,
            # An unverified claim about the type is not recorded as one.
            "event_type": "notification",
            "status": "rejected",
            "verified": outcome.verified,
            "verification": outcome.verification,
            "dedupe_key": None,
            "account": "",
            "body": None,  # never keep what failed verification
            "error": str(outcome.error),
        }
    return {
        **common,
        "event_type": outcome.event_type[:64],
        "status": "duplicate" if duplicate else "accepted",
        "verified": True,
        "verification": _OK[delivery.provider],
        "dedupe_key": outcome.dedupe_key,
        "account": outcome.account[:255],
        "body": outcome.body,
        "error": "",
    }


_OK = {"dropbox": "signature ok", "google-drive": "token ok", "onedrive": "clientState ok"}


# The receive path's statements are built once: building a select per batch cost more Python
# than running it. They run on the session's connection (Core), skipping the ORM's per-statement
# bookkeeping; results are plain rows either way.
_INSERT_EVENT = insert(WebhookEvent.__table__)
# Status is filtered in Python, not in SQL: given `status = 'accepted'` SQLite picks the status
# index and walks every accepted event instead of a handful of keys.
_EVENTS_WITH_KEYS = select(
    WebhookEvent.provider, WebhookEvent.dedupe_key, WebhookEvent.status, WebhookEvent.received_at
).where(col(WebhookEvent.dedupe_key).in_(bindparam("keys", expanding=True)))
_RECENT_REJECTIONS = (
    select(WebhookEvent.received_at)
    .where(
        col(WebhookEvent.client) == bindparam("client"),
        col(WebhookEvent.status) == "rejected",
        col(WebhookEvent.received_at) > bindparam("since"),
    )
    .order_by(col(WebhookEvent.received_at).desc())
    .limit(REJECTION_LIMIT)
)


def _latest_accepted(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """When each (provider, dedupe key) was last accepted, for those that were."""
    wanted = sorted({key for _, key in keys})
    latest: dict[tuple[str, str], datetime] = {}
    connection = session.connection()
    for start in range(0, len(wanted), _KEYS_PER_QUERY):
        for provider, key, status, at in connection.execute(
            _EVENTS_WITH_KEYS, {"keys": wanted[start : start + _KEYS_PER_QUERY]}
        ):
            if status != "accepted" or key is None:
                continue
            previous = latest.get((provider, key))
            if previous is None or at > previous:
                latest[(provider, key)] = at
    return latest


def record_event(
    *,
    session: Session,
    provider: str,
    event_type: str,
    status: str,
    verified: bool,
    verification: str,
    client: str,
    headers: dict[str, str],
    body_sha256: str,
    account: str = "",
    dedupe_key: str | None = None,
    body: str | None = None,
    error: str = "",
    now: datetime | None = None,
) -> WebhookEvent:
    """Store one event as given (imports, tests). Bodies are kept only for verified events."""
    event = WebhookEvent(
        provider=provider,
        event_type=event_type[:64],
        status=status,
        received_at=now or utcnow(),
        verified=verified,
        verification=verification[:64],
        dedupe_key=dedupe_key,
        account=account[:255],
        client=client[:MAX_CLIENT_CHARS],
        headers=headers,
        body=body if status != "rejected" else None,
        body_sha256=body_sha256,
        error=error,
    )
    session.add(event)
    session.flush()
    return event


# -- throttling -----------------------------------------------------------------------------------


def rejection_wait(*, session: Session, client: str, now: datetime | None = None) -> int:
    """Seconds until this client may send again; 0 unless it had `REJECTION_LIMIT` rejected
    requests inside the sliding window. Counted in the database, so every worker agrees."""
    now = now or utcnow()
    return _RejectionBook(session, {client[:MAX_CLIENT_CHARS]: now}).wait(client, now)


class _RejectionBook:
    """Recent rejections per client: the database's at the start of a batch, plus the batch's
    own as they happen (a burst of bad requests in one batch is throttled like a slow one)."""

    def __init__(self, session: Session, earliest: Mapping[str, datetime]) -> None:
        """`earliest`: each client's first moment of interest; its window is loaded from there."""
        self._times: dict[str, list[datetime]] = {}
        connection = session.connection()
        for client, first in earliest.items():
            recent = connection.execute(
                _RECENT_REJECTIONS, {"client": client, "since": first - REJECTION_WINDOW}
            ).scalars()
            self._times[client] = sorted(recent)

    @classmethod
    def of(cls, session: Session, deliveries: Sequence[Delivery]) -> _RejectionBook:
        earliest: dict[str, datetime] = {}
        for delivery in deliveries:
            client = delivery.client[:MAX_CLIENT_CHARS]
            earliest[client] = min(earliest.get(client, delivery.received_at), delivery.received_at)
        return cls(session, earliest)

    def wait(self, client: str, now: datetime) -> int:
        times = self._times.get(client[:MAX_CLIENT_CHARS], [])
        recent = [t for t in times if t > now - REJECTION_WINDOW]
        if len(recent) < REJECTION_LIMIT:
            return 0
        # The oldest of the newest `limit` rejections must leave the window before one more try.
        unlock_at = recent[-REJECTION_LIMIT] + REJECTION_WINDOW
        return max(1, math.ceil((unlock_at - now).total_seconds()))

    def add(self, client: str, at: datetime) -> None:
        self._times.setdefault(client[:MAX_CLIENT_CHARS], []).append(at)


# -- retention ------------------------------------------------------------------------------------


def prune_events(*, session: Session, now: datetime | None = None) -> int:
    """Delete events older than FINAPP_WEBHOOK_RETENTION_DAYS and the oldest beyond
    FINAPP_WEBHOOK_MAX_EVENTS; returns how many went."""
    settings = get_settings()
    cutoff = (now or utcnow()) - timedelta(days=settings.webhook_retention_days)
    deleted = session.exec(
        delete(WebhookEvent).where(col(WebhookEvent.received_at) < cutoff)
    ).rowcount
    # Ids only grow, so the newest `max` events have ids above max(id) - max: one index
    # lookup, where counting or offsetting would walk the whole table (gaps can only make it
    # keep fewer).
    newest = session.exec(select(func.max(WebhookEvent.id))).one()
    if newest is not None and newest > settings.webhook_max_events:
        deleted += session.exec(
            delete(WebhookEvent).where(col(WebhookEvent.id) <= newest - settings.webhook_max_events)
        ).rowcount
    if deleted:
        logger.info("Pruned %d webhook events", deleted)
    return deleted


_prune_lock = threading.Lock()
_last_prune: float | None = None


def _prune_now_and_then(session: Session, now: datetime) -> None:
    # At most once a minute per process, piggybacking on a write: retention needs no
    # scheduler, and the cost stays off all but one request a minute.
    global _last_prune
    with _prune_lock:
        moment = clock.monotonic()
        if _last_prune is not None and moment - _last_prune < PRUNE_EVERY_S:
            return
        _last_prune = moment
    prune_events(session=session, now=now)


# -- reporting ------------------------------------------------------------------------------------


def list_events(
    *,
    session: Session,
    provider: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[WebhookEvent], int]:
    """Events newest first, optionally of one provider/status and since a moment; with the
    total that match."""
    if provider is not None and provider not in PROVIDERS:
        raise InvalidInput(
            f"Unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}."
        )
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"Unknown status {status!r}; expected one of {', '.join(STATUSES)}.")
    conditions = []
    if provider is not None:
        conditions.append(col(WebhookEvent.provider) == provider)
    if status is not None:
        conditions.append(col(WebhookEvent.status) == status)
    if since is not None:
        aware = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        conditions.append(col(WebhookEvent.received_at) >= aware)
    total = session.exec(select(func.count()).select_from(WebhookEvent).where(*conditions)).one()
    events = session.exec(
        select(WebhookEvent)
        .where(*conditions)
        .order_by(col(WebhookEvent.received_at).desc(), col(WebhookEvent.id).desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, 500)))
    ).all()
    return list(events), total


def get_event(*, session: Session, event_id: int) -> WebhookEvent:
    event = session.get(WebhookEvent, event_id)
    if event is None:
        raise NotFound(f"No webhook event {event_id}.")
    return event


def event_data(event: WebhookEvent) -> Any:
    """What an event says: its parsed JSON body, else the summary of its headers."""
    if event.body:
        try:
            return json.loads(event.body)
        except ValueError:
            pass
    return dict(event.headers)


def event_summary(event: WebhookEvent) -> dict[str, Any]:
    """One row of the events list."""
    return {
        "id": event.id,
        "timestamp": event.received_at.isoformat(),
        "provider": event.provider,
        "event_type": event.event_type,
        "status": event.status,
        "account": event.account,
        "error": event.error,
        "data": event_data(event),
    }


def event_detail(event: WebhookEvent) -> dict[str, Any]:
    """Everything stored about one event (never a secret: none is stored)."""
    return {
        **event_summary(event),
        "verified": event.verified,
        "verification": event.verification,
        "dedupe_key": event.dedupe_key,
        "client": event.client,
        "headers": dict(event.headers),
        "body": event.body,
        "body_sha256": event.body_sha256,
    }


def events_per_day(
    *,
    session: Session,
    days: int = 14,
    provider: str | None = None,
    zone: str | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Counts per calendar day (in `zone`, default FINAPP_TIMEZONE) and status for the last
    `days` days including today, oldest first: `{date, total, accepted, duplicate, rejected}`."""
    days = max(1, min(days, 366))
    tz = ZoneInfo(zone or get_settings().default_timezone)
    today = (now or utcnow()).astimezone(tz).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    starts = [datetime.combine(d, time(), tzinfo=tz).astimezone(UTC) for d in dates]
    # The newest day is tested first, so each row lands in the latest day it is not before.
    bucket = case(
        *[(col(WebhookEvent.received_at) >= starts[i], i) for i in range(days - 1, -1, -1)],
        else_=-1,
    )
    conditions = [col(WebhookEvent.received_at) >= starts[0]]
    if provider is not None:
        conditions.append(col(WebhookEvent.provider) == provider)
    # Grouped outside a subquery: PostgreSQL would not match a parameterised CASE in GROUP BY.
    rows = (
        select(bucket.label("day"), col(WebhookEvent.status).label("status"))
        .where(*conditions)
        .subquery()
    )
    counts = session.exec(
        select(rows.c.day, rows.c.status, func.count()).group_by(rows.c.day, rows.c.status)
    ).all()
    result = [{"date": d.isoformat(), "total": 0, **dict.fromkeys(STATUSES, 0)} for d in dates]
    for day, status, count in counts:
        if 0 <= day < days and status in STATUSES:
            result[day][status] += count
            result[day]["total"] += count
    return result


def today_counts(
    *, session: Session, zone: str | None = None, now: datetime | None = None
) -> dict[str, int]:
    """For the dashboard: events since midnight (in `zone`) and how many were rejected."""
    today = events_per_day(session=session, days=1, zone=zone, now=now)[0]
    return {"events_today": today["total"], "rejected_today": today["rejected"]}


def statistics(
    *, session: Session, days: int = 14, zone: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Totals by provider, event type and status, and per day for the last `days` days."""
    by_provider = dict.fromkeys(PROVIDERS, 0)
    by_status = dict.fromkeys(STATUSES, 0)
    for provider, status, count in session.exec(
        select(WebhookEvent.provider, WebhookEvent.status, func.count()).group_by(
            WebhookEvent.provider, WebhookEvent.status
        )
    ).all():
        by_provider[provider] = by_provider.get(provider, 0) + count
        by_status[status] = by_status.get(status, 0) + count
    by_type = dict(
        session.exec(
            select(WebhookEvent.event_type, func.count())
            .group_by(WebhookEvent.event_type)
            .order_by(func.count().desc())
        ).all()
    )
    return {
        "total": sum(by_status.values()),
        "by_provider": by_provider,
        "by_type": by_type,
        "by_status": by_status,
        "per_day": events_per_day(session=session, days=days, zone=zone, now=now),
        **today_counts(session=session, zone=zone, now=now),
    }


@dataclass(frozen=True)
class ProviderStatus:
    """What the webhooks page shows per provider."""

    provider: str
    name: str
    configured: bool
    secret_setting: str
    webhook_url: str
    events: int
    accepted: int
    duplicate: int
    rejected: int
    last_event_at: datetime | None
    last_event_type: str | None
    last_event_status: str | None
    last_error: str | None
    last_error_at: datetime | None
    last_lifecycle_event: str | None  # Graph: e.g. reauthorizationRequired
    last_lifecycle_at: datetime | None
    last_sync_channel: str | None  # Drive: the newest channel that announced its start
    last_sync_at: datetime | None


def webhook_url(provider: str, settings: Settings | None = None) -> str:
    """The exact URL to register with the provider."""
    settings = settings or get_settings()
    return settings.public_url + RECEIVER_PATH.format(provider=provider)


def provider_status(*, session: Session) -> list[ProviderStatus]:
    """Per provider: configured or not, its webhook URL, counts, the last event and error."""
    settings = get_settings()
    counts: dict[tuple[str, str], int] = {
        (provider, status): count
        for provider, status, count in session.exec(
            select(WebhookEvent.provider, WebhookEvent.status, func.count()).group_by(
                WebhookEvent.provider, WebhookEvent.status
            )
        ).all()
    }
    result = []
    for provider in PROVIDERS:
        last = _latest(session, provider)
        error = _latest(session, provider, col(WebhookEvent.status) == "rejected")
        lifecycle = _latest(
            session, provider, col(WebhookEvent.event_type).startswith("lifecycle:")
        )
        sync = _latest(
            session,
            provider,
            col(WebhookEvent.event_type) == "sync",
            col(WebhookEvent.status) == "accepted",
        )
        by_status = {status: counts.get((provider, status), 0) for status in STATUSES}
        result.append(
            ProviderStatus(
                provider=provider,
                name=PROVIDER_NAMES[provider],
                configured=_secret_or_none(provider, settings) is not None,
                secret_setting=SECRET_SETTINGS[provider],
                webhook_url=webhook_url(provider, settings),
                events=sum(by_status.values()),
                accepted=by_status["accepted"],
                duplicate=by_status["duplicate"],
                rejected=by_status["rejected"],
                last_event_at=last.received_at if last else None,
                last_event_type=last.event_type if last else None,
                last_event_status=last.status if last else None,
                last_error=error.error if error else None,
                last_error_at=error.received_at if error else None,
                last_lifecycle_event=lifecycle.event_type.removeprefix("lifecycle:")
                if lifecycle
                else None,
                last_lifecycle_at=lifecycle.received_at if lifecycle else None,
                last_sync_channel=sync.account if sync else None,
                last_sync_at=sync.received_at if sync else None,
            )
        )
    return result


def _latest(session: Session, provider: str, *conditions: Any) -> WebhookEvent | None:
    return session.exec(
        select(WebhookEvent)
        .where(col(WebhookEvent.provider) == provider, *conditions)
        .order_by(col(WebhookEvent.received_at).desc(), col(WebhookEvent.id).desc())
        .limit(1)
    ).first()


def health(*, session: Session) -> dict[str, Any]:
    """Which providers can accept notifications, and today's traffic."""
    settings = get_settings()
    configured = {p: _secret_or_none(p, settings) is not None for p in PROVIDERS}
    last = session.exec(select(func.max(WebhookEvent.received_at))).one()
    return {
        "status": "ok" if any(configured.values()) else "not configured",
        "providers": configured,
        "last_event_at": last.isoformat() if last else None,
        **today_counts(session=session),
    }
