"""Group commit for the webhook receivers (the FastAPI routes and the fast path alike): one
thread records every delivery that arrived while it wrote the previous batch, in one
transaction, then answers each waiting request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finapp.db import session_scope
from finapp.services import webhooks
from finapp.services.webhooks import Delivery, Outcome, Receipt

logger = logging.getLogger(__name__)

MAX_BATCH = 256  # deliveries per transaction
RECORDER_IDLE_S = 30.0  # the recorder thread ends after this long without work


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

    async def record(self, delivery: Delivery) -> Receipt:
        """The delivery's Receipt once its batch is committed; raises its domain error
        (RateLimited, Forbidden, Unauthorized, InvalidInput) once the rejection is recorded."""
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


recorder = _Recorder()
