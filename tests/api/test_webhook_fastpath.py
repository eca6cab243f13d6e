"""The webhook fast path (`finapp.api.fastpath`): which requests it answers itself, which it
passes on to the full app, and that its answers are byte for byte those of the FastAPI routes.
(tests/api/test_webhooks_api.py runs every receiver test through both.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import delete, func, select
from starlette.types import Receive, Scope, Send

from finapp import db
from finapp.api.app import create_api
from finapp.api.fastpath import WebhookFastPath
from finapp.models import WebhookEvent
from finapp.services import webhooks
from tests.conftest import reload_settings
from tests.webhook_samples import (
    DRIVE,
    DROPBOX,
    DROPBOX_BODY,
    DROPBOX_SIGNATURE,
    GRAPH_VALIDATION_QUERY,
    ONEDRIVE,
    SECRETS_ENV,
    drive_headers,
    dropbox_body,
    dropbox_signature,
    graph_body,
    graph_item,
)


class Spy:
    """The app behind the fast path, noting every request that reaches it."""

    def __init__(self) -> None:
        self.app = create_api()
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS_ENV.items():
        monkeypatch.setenv(name, value)
    reload_settings()


@pytest.fixture
def spy(database: Any, configured: None) -> Spy:
    return Spy()


@pytest.fixture
def fast(spy: Spy) -> Iterator[TestClient]:
    with TestClient(WebhookFastPath(spy)) as client:
        yield client


def test_receivers_are_answered_without_the_app(fast: TestClient, spy: Spy) -> None:
    answers = [
        fast.post(
            DROPBOX, content=DROPBOX_BODY, headers={"X-Dropbox-Signature": DROPBOX_SIGNATURE}
        ),
        fast.post(DROPBOX, content=DROPBOX_BODY, headers={"X-Dropbox-Signature": "0" * 64}),
        fast.get(DROPBOX, params={"challenge": "abc"}),
        fast.post(DRIVE, headers=drive_headers("sync", 1)),
        fast.post(ONEDRIVE, content=graph_body(graph_item(item_id="x"))),
        fast.post(f"{ONEDRIVE}?{GRAPH_VALIDATION_QUERY}"),
        fast.post(DROPBOX, content=b"x", headers={"Content-Length": str(300 * 1024)}),
    ]

    assert [a.status_code for a in answers] == [200, 403, 200, 200, 200, 200, 413]
    assert spy.seen == []


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/api/webhooks/events", {}),  # management routes
        ("GET", "/api/health", {}),
        ("POST", "/api/webhooks/bench-unknown", {}),  # 404 from the app
        ("GET", DRIVE, {}),  # 405 from the app
        ("GET", ONEDRIVE, {}),
        ("PUT", DROPBOX, {}),
        ("HEAD", DROPBOX, {}),
        ("POST", DROPBOX + "/", {}),  # the router's trailing-slash redirect
        ("POST", DROPBOX, {"Origin": "https://example.com"}),  # a browser: CORS is the app's
    ],
)
def test_everything_else_reaches_the_app(
    fast: TestClient, spy: Spy, method: str, path: str, headers: dict[str, str]
) -> None:
    fast.request(method, path, headers=headers, follow_redirects=False)

    assert spy.seen == [(method, path)]


def _cases() -> list[tuple[str, str, dict[str, str], bytes]]:
    fresh = dropbox_body("dbid:same-answer")
    return [
        ("POST", DROPBOX, {"X-Dropbox-Signature": DROPBOX_SIGNATURE}, DROPBOX_BODY),
        ("POST", DROPBOX, {"X-Dropbox-Signature": DROPBOX_SIGNATURE}, DROPBOX_BODY),  # duplicate
        ("POST", DROPBOX, {"X-Dropbox-Signature": dropbox_signature(fresh)}, fresh),
        ("POST", DROPBOX, {}, DROPBOX_BODY),  # unsigned: 401
        ("POST", DROPBOX, {"X-Dropbox-Signature": "f" * 64}, DROPBOX_BODY),  # forged: 403
        ("POST", DROPBOX, {"X-Dropbox-Signature": dropbox_signature(b"{")}, b"{"),  # 400
        ("POST", DROPBOX, {"Content-Length": str(257 * 1024)}, b"x"),  # declared too large
        ("POST", DROPBOX, {}, b"x" * (257 * 1024)),  # too large
        ("GET", DROPBOX + "?challenge=Hello%20%3Cb%3E", {}, b""),
        ("GET", DROPBOX + "?challenge=a&challenge=b", {}, b""),  # the last one, like FastAPI
        ("GET", DROPBOX, {}, b""),  # missing: 400
        ("GET", DROPBOX + "?challenge=" + "c" * 1001, {}, b""),  # too long: 400
        ("POST", DRIVE, drive_headers("update", 7, changed="content"), b""),
        ("POST", DRIVE, drive_headers("update", 7, changed="content"), b""),  # duplicate
        ("POST", DRIVE, drive_headers("sync", 1, token="wrong"), b""),
        ("POST", DRIVE, {k: v for k, v in drive_headers().items() if "Number" not in k}, b""),
        ("POST", f"{ONEDRIVE}?{GRAPH_VALIDATION_QUERY}", {}, b""),
        ("POST", f"{ONEDRIVE}?validationToken=", {}, b""),
        ("POST", ONEDRIVE, {}, graph_body(graph_item(item_id="one"), graph_item())),
        ("POST", ONEDRIVE, {}, graph_body(graph_item(client_state="nope"))),
        ("POST", ONEDRIVE, {}, b'{"value": "not a list"}'),
        ("POST", ONEDRIVE, {}, b"[1, 2"),
        *[("POST", DROPBOX, {"X-Dropbox-Signature": "0" * 64}, b"{}")] * webhooks.REJECTION_LIMIT,
        ("POST", DROPBOX, {"X-Dropbox-Signature": DROPBOX_SIGNATURE}, DROPBOX_BODY),  # 429
    ]


def _replay(app: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    with db.session_scope() as session:
        session.exec(delete(WebhookEvent))  # each app starts from the same empty log
    answers = []
    with TestClient(app) as client:
        for method, path, headers, body in _cases():
            response = client.request(method, path, headers=headers, content=body or None)
            kept = sorted((k, v) for k, v in response.headers.items() if k != "retry-after")
            answers.append((response.status_code, kept, response.content))
            if "retry-after" in response.headers:
                assert 1 <= int(response.headers["retry-after"]) <= 60
    return answers


def test_answers_are_the_same_as_the_routes(database: Any, configured: None) -> None:
    routes = _replay(create_api())
    fast = _replay(WebhookFastPath(create_api()))

    statuses = [status for status, _, _ in routes]
    assert statuses[:22] == [
        200, 200, 200, 401, 403, 400, 413, 413, 200, 200, 400, 400,
        200, 200, 403, 400, 200, 400, 200, 403, 400, 400,
    ]  # fmt: skip
    # 8 of those were recorded rejections: 22 more reach the limit, then the client waits.
    assert statuses[22:] == [403] * (webhooks.REJECTION_LIMIT - 8) + [429] * 9
    for number, (expected, got) in enumerate(zip(routes, fast, strict=True)):
        assert got == expected, f"case {number}: {_cases()[number][:2]}"


def test_a_client_that_hangs_up_mid_body_is_not_recorded(spy: Spy) -> None:
    messages = iter(
        [{"type": "http.request", "body": b"{", "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": DROPBOX,
        "query_string": b"",
        "headers": [(b"x-dropbox-signature", b"0" * 64)],
        "client": ("203.0.113.7", 1),
    }
    asyncio.run(WebhookFastPath(spy)(scope, receive, send))

    assert sent == [] and spy.seen == []
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(WebhookEvent)).one() == 0
