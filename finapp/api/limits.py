"""Refuse oversized request bodies before they are parsed or spooled to disk."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from finapp.settings import Settings, get_settings

MULTIPART_OVERHEAD = 1024 * 1024  # boundaries and form fields around the file itself
MAX_FILES_PER_UPLOAD = 20  # per upload request, in the UI's drop zone and the API
LIMITED_PREFIXES = ("/api/", "/_upload")  # the REST API and Reflex's upload endpoint
MULTI_FILE_PATHS = ("/_upload", "/api/files")
WEBHOOK_PREFIX = "/api/webhooks/"  # provider notifications: a few hundred bytes each


class BodySizeLimit:
    """413 for any /api request whose body exceeds the file limit plus multipart overhead, and
    for webhook receivers the much tighter FINAPP_WEBHOOK_MAX_BODY_KB.

    Checks Content-Length up front and also counts streamed (chunked) bodies, so a client
    cannot get around it by leaving the header out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        limit, refusal = limit_for(scope["path"], get_settings())
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refuse(send, refusal)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(refusal)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:  # outside FastAPI's routing (Reflex's upload endpoint)
            if not response_started:
                await refuse(send, refusal)


def limit_for(path: str, settings: Settings) -> tuple[int, str]:
    """The byte limit for a path, and the refusal that names the setting behind it."""
    if path.startswith(WEBHOOK_PREFIX):
        # Anyone on the internet can POST here; a tight limit keeps refusing floods cheap.
        return settings.webhook_max_body_bytes, (
            f"Request body larger than the {settings.webhook_max_body_kb} KB limit "
            "(FINAPP_WEBHOOK_MAX_BODY_KB)."
        )
    # Upload endpoints take several files per request; store_file enforces the per-file limit.
    files = MAX_FILES_PER_UPLOAD if path.startswith(MULTI_FILE_PATHS) else 1
    return settings.max_file_bytes * files + MULTIPART_OVERHEAD, (
        f"Request body larger than the {settings.max_file_mb} MB limit (FINAPP_MAX_FILE_MB)."
    )


class _BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body parsing re-raises it instead of turning it into 400.
    def __init__(self, message: str) -> None:
        super().__init__(413, message)


async def refuse(send: Send, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
