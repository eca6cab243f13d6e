"""Extraction off the receiving path.

A channel that stores files (the mail check) hands their ids to `submit` and carries on; one
background thread per process extracts them, each in its own transaction, so one bad file stops
nothing and a slow PDF never holds up the next message. A file is extracted only while it is
still `pending` (an aggregation run may have got to it first; deleting it takes it out too). If
the process stops before the queue is empty, the files stay `pending`: the scheduler that
becomes active next queues them again (`resubmit_pending`), and a project's aggregation
extracts whatever is pending anyway. The queue only makes extraction prompt; the status column
is the record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterable

from sqlmodel import col, select

from finapp.db import session_scope
from finapp.models import StoredFile
from finapp.services import transactions

logger = logging.getLogger(__name__)

IDLE_EXIT_S = 30.0  # the worker thread ends after this long without work; submit starts another


class ExtractionQueue:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[int] = deque()
        self._working = False
        self._thread: threading.Thread | None = None

    def submit(self, file_ids: Iterable[int]) -> None:
        with self._changed:
            self._waiting.extend(file_ids)
            if not self._waiting:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="extraction-queue", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def pending(self) -> int:
        """Files waiting or being extracted right now."""
        with self._changed:
            return len(self._waiting) + (1 if self._working else 0)

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every submitted file is done; False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._waiting or self._working:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._changed:
                self._working = False
                self._changed.notify_all()  # wakes drain()
                if not self._waiting:
                    self._changed.wait(IDLE_EXIT_S)
                if not self._waiting:
                    self._thread = None
                    return
                file_id = self._waiting.popleft()
                self._working = True
            try:
                extract_if_pending(file_id)
            except Exception:  # the database went away, say; the file stays pending
                logger.exception("Queued extraction of file #%s failed", file_id)


def resubmit_pending(*, source: str = "email") -> int:
    """Queue the files of a channel that are still pending: after a restart, the ones the
    stopped process had queued but not extracted. (Uploads wait for aggregation by design.)"""
    with session_scope() as session:
        ids = session.exec(
            select(StoredFile.id)
            .where(StoredFile.status == "pending", StoredFile.source == source)
            .order_by(col(StoredFile.id))
        ).all()
    submit(i for i in ids if i is not None)
    if ids:
        logger.info("Queued %d pending %s files for extraction", len(ids), source)
    return len(ids)


def extract_if_pending(file_id: int) -> None:
    with session_scope() as session:
        record = session.get(StoredFile, file_id)
        if record is not None and record.status == "pending":
            transactions.extract_file(session=session, record=record)


_queue = ExtractionQueue()
submit = _queue.submit
drain = _queue.drain
pending = _queue.pending
