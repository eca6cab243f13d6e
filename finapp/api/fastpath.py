"""The webhook receivers' fast path: a small ASGI callable in front of the whole app that
answers the three public receivers itself and passes every other request on untouched.

Why: a burst of provider notifications is the one load finapp takes from the internet at
volume, and the full stack — Reflex's Starlette app and middleware, then FastAPI's middleware,
router and request handling — cost as much per request as a bare Starlette receiver's whole
HMAC + insert (issue 6 wants >= 0.7x of that). Here a notification costs a dictionary lookup
before it reaches the same code the FastAPI routes call: the body limit of `limits`, the
verification and recording of `recorder`/`services.webhooks`, the error mapping of `errors`.
So the answers are the same whichever path gives them; tests/api/test_webhooks_api.py runs
every receiver test against both.

The FastAPI routes in `finapp.api.webhooks` stay: /docs documents them, and they answer what
this path passes on — requests from a browser (an Origin header: CORS is the full stack's
job), HEAD, other methods and any other spelling of the paths.
"""

from __future__ import annotations

import functools
import logging

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from finapp.api.errors import error_response
from finapp.api.limits import limit_for, refuse
from finapp.api.recorder import recorder
from finapp.api.webhooks import echo, receipt_response
from finapp.services import webhooks
from finapp.services.errors import FinappError
from finapp.services.webhooks import Delivery, Receipt
from finapp.settings import get_settings

logger = logging.getLogger(__name__)

PROVIDER_FOR_PATH = {
    "/api/webhooks/dropbox": "dropbox",
    "/api/webhooks/google-drive": "google-drive",
    "/api/webhooks/onedrive": "onedrive",
}


class WebhookFastPath:
    """ASGI middleware: POST to a receiver (and Dropbox's GET challenge) answered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Said once per worker, so a log (and tests/e2e) shows which path serves the receivers.
        logger.info("Webhook receivers served by the fast path: %s", ", ".join(PROVIDER_FOR_PATH))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            provider = PROVIDER_FOR_PATH.get(scope["path"])
            method = scope["method"]
            if provider is not None and (
                method == "POST" or (method == "GET" and provider == "dropbox")
            ):
                # ASGI header names are lowercase; the last of repeated headers wins, as in
                # Delivery.lowered_headers.
                headers = {
                    name.decode("latin-1"): value.decode("latin-1")
                    for name, value in scope["headers"]
                }
                if "origin" not in headers:
                    await _serve(provider, scope, headers, receive, send)
                    return
        await self.app(scope, receive, send)


async def _serve(
    provider: str, scope: Scope, headers: dict[str, str], receive: Receive, send: Send
) -> None:
    limit, refusal = limit_for(scope["path"], get_settings())
    declared = headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        await refuse(send, refusal)  # unread, like BodySizeLimit
        return
    response: Response
    try:
        response = await _answer(provider, scope, headers, receive, limit)
    except _BodyTooLarge:
        await refuse(send, refusal)  # stops reading at the first chunk past the limit
        return
    except ClientDisconnect:
        return  # nobody to answer; nothing was recorded
    except FinappError as exc:
        response = error_response(exc)
    except Exception:
        # What Starlette's ServerErrorMiddleware would have answered.
        logger.exception("The %s webhook receiver failed", provider)
        response = PlainTextResponse("Internal Server Error", status_code=500)
    await response(scope, receive, send)


async def _answer(
    provider: str, scope: Scope, headers: dict[str, str], receive: Receive, limit: int
) -> Response:
    query = scope.get("query_string", b"")
    if scope["method"] == "GET":
        return echo(webhooks.dropbox_challenge(QueryParams(query).get("challenge")))
    if provider == "onedrive" and query:
        token = QueryParams(query).get("validationToken")
        if token is not None:  # Graph's subscription validation: no body to read
            return echo(webhooks.onedrive_validation(token))
    client = scope.get("client")
    delivery = Delivery(
        provider=provider,
        body=await _read_body(receive, limit),
        headers=headers,
        client=client[0] if client else "unknown",
    )
    return _receipt_response(await recorder.record(delivery))


@functools.lru_cache(maxsize=256)
def _receipt_response(receipt: Receipt) -> Response:
    # The route's own JSONResponse, rendered once per distinct receipt (nearly always
    # accepted 1 / duplicates 0): rendering it per request was a tenth of this path's cost.
    # A Response only sends its status, headers and body, so one can answer many requests.
    return receipt_response(receipt)


class _BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, counting as it streams: a client that leaves out Content-Length or
    lies in it is refused at the first chunk past the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
