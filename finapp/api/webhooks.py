"""`/api/webhooks`: the public receivers of Dropbox, Google Drive and OneDrive change
notifications (verified in `finapp.services.webhooks`), and the management routes behind a
bearer token. Bodies are capped by `BodySizeLimit` (FINAPP_WEBHOOK_MAX_BODY_KB) before this
code ever sees them.

In the running app `finapp.api.fastpath` answers the receivers' requests before they reach
FastAPI, with the same code (`echo`, `receipt_response`, the recorder); these routes document
them in /docs and answer what the fast path passes on (e.g. requests with an Origin header)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from finapp.api.deps import CurrentUser, DbSession, client_address
from finapp.api.recorder import recorder
from finapp.services import webhooks
from finapp.services.webhooks import Delivery, Receipt

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Provider = Literal["dropbox", "google-drive", "onedrive"]
Status = Literal["accepted", "duplicate", "rejected"]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed notification (recorded as rejected)"},
    401: {"description": "Unsigned (recorded as rejected)"},
    403: {"description": "Wrong signature or token, or provider not configured (recorded)"},
    413: {"description": "Body over FINAPP_WEBHOOK_MAX_BODY_KB"},
    429: {"description": "Too many rejected requests from this client; see Retry-After"},
}


async def _receive(provider: str, request: Request) -> JSONResponse:
    # The body is read here, not through a dependency: this is the hot path under a burst,
    # and FastAPI resolves dependencies anew for every request.
    delivery = Delivery(
        provider=provider,
        body=await request.body(),  # the exact bytes signed; nothing parses them before checks
        headers=request.headers,
        client=client_address(request),
    )
    return receipt_response(await recorder.record(delivery))


def receipt_response(receipt: Receipt) -> JSONResponse:
    return JSONResponse(
        {"status": receipt.status, "accepted": receipt.accepted, "duplicates": receipt.duplicates}
    )


def echo(text: str) -> PlainTextResponse:
    # nosniff: the echoed text comes from whoever called, so no browser may render it as HTML.
    return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})


# -- receivers (public, verified) -----------------------------------------------------------------


@router.get("/dropbox", response_class=PlainTextResponse, responses={400: {}})
async def dropbox_verification(challenge: str | None = None) -> PlainTextResponse:
    """Dropbox's endpoint check: echo `challenge` as text/plain."""
    return echo(webhooks.dropbox_challenge(challenge))


@router.post("/dropbox", responses=_REFUSALS)
async def dropbox_notification(request: Request) -> JSONResponse:
    """A Dropbox notification, signed with `X-Dropbox-Signature`. Answers
    `{"status": "accepted"|"duplicate", "accepted": n, "duplicates": n}`."""
    return await _receive("dropbox", request)


@router.post("/google-drive", responses=_REFUSALS)
async def google_drive_notification(request: Request) -> JSONResponse:
    """A Drive push notification; the channel token is `GOOGLE_WEBHOOK_SECRET`."""
    return await _receive("google-drive", request)


@router.post("/onedrive", response_model=None, responses=_REFUSALS)
async def onedrive_notification(
    request: Request,
    validation_token: Annotated[str | None, Query(alias="validationToken")] = None,
) -> JSONResponse | PlainTextResponse:
    """Graph's subscription validation (`?validationToken=`, echoed as text/plain), or a batch
    of notifications whose every `clientState` must be `ONEDRIVE_WEBHOOK_SECRET`."""
    if validation_token is not None:
        return echo(webhooks.onedrive_validation(validation_token))
    return await _receive("onedrive", request)


# -- management (bearer token) --------------------------------------------------------------------


@router.get("/events")
def list_events(
    response: Response,
    _user: CurrentUser,
    session: DbSession,
    provider: Provider | None = None,
    status: Status | None = None,
    since: datetime | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Received events, newest first; the total that match is in `X-Total-Count`."""
    events, total = webhooks.list_events(
        session=session, provider=provider, status=status, since=since, limit=limit, offset=offset
    )
    response.headers["X-Total-Count"] = str(total)
    return [webhooks.event_summary(event) for event in events]


@router.get("/events/{event_id}")
def get_event(event_id: int, _user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """One event with its stored headers, body and verification outcome."""
    return webhooks.event_detail(webhooks.get_event(session=session, event_id=event_id))


@router.get("/statistics")
def statistics(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Counts by provider, type and status, and per day for the last 14 days."""
    return webhooks.statistics(session=session)


@router.get("/providers")
def providers(_user: CurrentUser, session: DbSession) -> list[dict[str, Any]]:
    """Per provider: configured or not, the URL to register, counts, last event and error."""
    return [asdict(status) for status in webhooks.provider_status(session=session)]


@router.get("/health")
def health(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    return webhooks.health(session=session)
