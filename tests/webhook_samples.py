"""Provider notifications as the reference (shared/reference/webhooks.md) shows them, and the
secrets that make them valid; shared by the service, API, live and benchmark tests."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

# The receivers' paths.
DROPBOX = "/api/webhooks/dropbox"
DRIVE = "/api/webhooks/google-drive"
ONEDRIVE = "/api/webhooks/onedrive"

DROPBOX_SECRET = "test-app-secret"
# The reference's test vector: exactly these bytes, exactly this signature.
DROPBOX_BODY = (
    b'{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, '
    b'"delta": {"users": [12345678]}}'
)
DROPBOX_SIGNATURE = "b2be65d90b0e599464e1c401767773c22bcf828ea1aa77d2a3410587b8057085"
DROPBOX_ACCOUNT = "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"

GOOGLE_TOKEN = "3a98f1a2b3c4d5e6f7"
DRIVE_CHANNEL = "4ba78bf0-6a47-11e2-bcfd-0800200c9a66"
DRIVE_RESOURCE = "ret08u3rv24htgh289g"

ONEDRIVE_SECRET = "graph-client-state-0123456789"
GRAPH_SUBSCRIPTION = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
GRAPH_VALIDATION_QUERY = (
    "validationToken=Validation%3A%20Testing%20client%20application%20reachability"
)
GRAPH_VALIDATION_TEXT = "Validation: Testing client application reachability"

SECRETS_ENV = {
    "DROPBOX_WEBHOOK_SECRET": DROPBOX_SECRET,
    "GOOGLE_WEBHOOK_SECRET": GOOGLE_TOKEN,
    "ONEDRIVE_WEBHOOK_SECRET": ONEDRIVE_SECRET,
}


def dropbox_signature(body: bytes, secret: str = DROPBOX_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dropbox_body(*accounts: str, users: tuple[int, ...] = ()) -> bytes:
    return json.dumps(
        {"list_folder": {"accounts": list(accounts)}, "delta": {"users": users}}
    ).encode()


def drive_headers(
    state: str = "sync",
    number: int = 1,
    *,
    token: str | None = GOOGLE_TOKEN,
    channel: str = DRIVE_CHANNEL,
    changed: str | None = None,
) -> dict[str, str]:
    """The reference's sync example; `update` with number 11 and `changed` is its other one."""
    headers = {
        "X-Goog-Channel-ID": channel,
        "X-Goog-Resource-ID": DRIVE_RESOURCE,
        "X-Goog-Resource-URI": f"https://www.googleapis.com/drive/v3/files/{DRIVE_RESOURCE}",
        "X-Goog-Resource-State": state,
        "X-Goog-Message-Number": str(number),
    }
    if token is not None:
        headers["X-Goog-Channel-Token"] = token
    if changed is not None:
        headers["X-Goog-Changed"] = changed
    return headers


def graph_item(
    *,
    client_state: Any = ONEDRIVE_SECRET,
    item_id: str | None = None,
    lifecycle: str | None = None,
    subscription: str = GRAPH_SUBSCRIPTION,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "subscriptionId": subscription,
        "subscriptionExpirationDateTime": "2026-12-06T11:23:45.9356913+00:00",
        "resource": "me/drive/root",
        "clientState": client_state,
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    }
    if lifecycle is None:
        item["changeType"] = "updated"
    else:
        item["lifecycleEvent"] = lifecycle
    if item_id is not None:
        item["id"] = item_id
    return item


def graph_body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(items)}).encode()
