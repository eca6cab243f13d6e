"""`/api/webhooks`: the public receivers of Dropbox, Google Drive and OneDrive change
notifications (verified in `finapp.services.webhooks`), and the management routes behind a
bearer token. Bodies are capped by `BodySizeLimit` (FINAPP_WEBHOOK_MAX_BODY_KB) before this
code ever sees them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from finapp.api.deps import CurrentUser, DbSession, client_address
from finapp.db import session_scope
from finapp.services import webhooks
from finapp.services.webhooks import Delivery, Outcome

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Provider = Literal["dropbox", "google-drive", "onedrive"]
Status = Literal["accepted", "duplicate", "rejected"]
Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]

MAX_BATCH = 256  # deliveries per transaction
RECORDER_IDLE_S = 30.0  # the recorder thread ends after this long without work

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed notification (recorded as rejected)"},
    401: {"description": "Unsigned (recorded as rejected)"},
    403: {"description": "Wrong signature or token, or provider not configured (recorded)"},
    413: {"description": "Body over FINAPP_WEBHOOK_MAX_BODY_KB"},
    429: {"description": "Too many rejected requests from this client; see Retry-After"},
}


@dataclass(frozen=True)
class _Job:
    delivery: Delivery
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome | BaseException]


class _Recorder:
    """Group commit for the receivers: one thread records every delivery that arrived while it
    wrote the previous batch, in one transaction, then answers each waiting request.

    Requests never hand the database to a thread pool one by one: per-request threads made
    SQLite writers queue in its sleeping busy handler and cost three thread hops a request, and
    a burst of notifications now costs one commit instead of one each. A request is answered
    only after its batch is committed, so a 2xx still means stored.
    """

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._pending: deque[_Job] = deque()
        self._thread: threading.Thread | None = None

    async def record(self, delivery: Delivery) -> Outcome:
        loop = asyncio.get_running_loop()
        job = _Job(delivery, loop, loop.create_future())
        with self._ready:
            self._pending.append(job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="webhook-recorder", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        outcome = await job.future
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._pending:
                    self._ready.wait(RECORDER_IDLE_S)
                if not self._pending:
                    self._thread = None  # the next delivery starts a new one
                    return
                count = min(len(self._pending), MAX_BATCH)
                batch = [self._pending.popleft() for _ in range(count)]
            try:
                self._write(batch)
            except Exception as exc:  # a bug here must not leave requests waiting forever
                logger.exception("The webhook recorder failed on a batch")
                _answer(batch, [exc] * len(batch))

    def _write(self, batch: list[_Job]) -> None:
        outcomes: list[Outcome | BaseException]
        try:
            with session_scope() as session:
                outcomes = list(
                    webhooks.record_deliveries(
                        session=session, deliveries=[job.delivery for job in batch]
                    )
                )
        except Exception as exc:
            if len(batch) > 1:
                # Whatever broke the batch must not fail the deliveries that came with it.
                for job in batch:
                    self._write([job])
                return
            logger.exception("Could not record a %s webhook", batch[0].delivery.provider)
            outcomes = [exc]
        _answer(batch, outcomes)


def _answer(batch: list[_Job], outcomes: Sequence[Outcome | BaseException]) -> None:
    # One wake-up per event loop, not per request: each costs the loop a system call.
    answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for job, outcome in zip(batch, outcomes, strict=True):
        answers.setdefault(job.loop, []).append((job.future, outcome))
    for loop, settled in answers.items():
        # RuntimeError: that event loop is gone (the server is shutting down).
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if not future.done():  # done = cancelled: the sender hung up; the event is stored anyway
            future.set_result(outcome)


_recorder = _Recorder()


async def _receive(provider: str, request: Request) -> JSONResponse:
    # The body is read here, not through a dependency: this is the hot path under a burst,
    # and FastAPI resolves dependencies anew for every request.
    delivery = Delivery(
        provider=provider,
        body=await request.body(),  # the exact bytes signed; nothing parses them before checks
        headers=request.headers,
        client=client_address(request),
    )
    receipt = await _recorder.record(delivery)
    return JSONResponse(
        {"status": receipt.status, "accepted": receipt.accepted, "duplicates": receipt.duplicates}
    )


def _echo(text: str) -> PlainTextResponse:
    # nosniff: the echoed text comes from whoever called, so no browser may render it as HTML.
    return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})


# -- receivers (public, verified) -----------------------------------------------------------------


@router.get("/dropbox", response_class=PlainTextResponse, responses={400: {}})
async def dropbox_verification(challenge: str | None = None) -> PlainTextResponse:
    """Dropbox's endpoint check: echo `challenge` as text/plain."""
    return _echo(webhooks.dropbox_challenge(challenge))


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
        return _echo(webhooks.onedrive_validation(validation_token))
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
