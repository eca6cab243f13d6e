"""The extraction queue: files handed to it are extracted promptly, off the caller's thread,
each alone; files no longer pending are left as they are."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlmodel import col, delete, select

from finapp import db
from finapp.models import FileContent, StoredFile, Transaction
from finapp.services import extraction_queue, files

CSV = b"date,description,amount\n2026-01-05,Coffee,-3.50\n2026-01-06,Salary,2500.00\n"
OTHER_CSV = b"date,description,amount\n2026-02-05,Tea,-2.50\n2026-02-06,Bonus,300.00\n"


def store(name: str, data: bytes = CSV, project: str = "acme") -> int:
    with db.session_scope() as session:
        record = files.store_file(
            session=session, data=data, filename=name, project_id=project, source="email"
        ).file
        return record.id  # type: ignore[return-value]


def file_row(file_id: int) -> StoredFile | None:
    with db.session_scope() as session:
        return session.get(StoredFile, file_id)


def test_submitted_files_are_extracted_on_another_thread(database: Path) -> None:
    first = store("a.csv")
    second = store("b.csv", OTHER_CSV)
    caller = threading.get_ident()
    threads: list[int] = []
    real = extraction_queue.transactions.extract_file

    def spy(**kwargs: object) -> StoredFile:
        threads.append(threading.get_ident())
        return real(**kwargs)  # type: ignore[arg-type]

    extraction_queue.transactions.extract_file = spy  # type: ignore[assignment]
    try:
        began = time.monotonic()
        extraction_queue.submit([first, second])
        submitted_in = time.monotonic() - began
        assert extraction_queue.drain(timeout=30)
    finally:
        extraction_queue.transactions.extract_file = real  # type: ignore[assignment]

    assert submitted_in < 0.05  # submit only queues
    assert len(threads) == 2 and caller not in threads
    for file_id in (first, second):
        record = file_row(file_id)
        assert record is not None
        assert (record.status, record.transaction_count) == ("extracted", 2)
    assert extraction_queue.pending() == 0


def test_a_broken_file_fails_alone_and_the_next_is_extracted(database: Path) -> None:
    broken = store("broken.csv", b"date,description,amount\n2026-01-05,Coffee,-3.50\n")
    good = store("good.csv")
    broken_row = file_row(broken)
    assert broken_row is not None
    with db.session_scope() as session:  # its content vanished
        session.exec(delete(FileContent).where(col(FileContent.sha256) == broken_row.sha256))

    extraction_queue.submit([broken, good])
    assert extraction_queue.drain(timeout=30)

    failed, extracted = file_row(broken), file_row(good)
    assert failed is not None and extracted is not None
    assert failed.status == "failed" and "Could not read the file" in failed.status_detail
    assert (extracted.status, extracted.transaction_count) == ("extracted", 2)


def test_files_no_longer_pending_are_left_alone(database: Path) -> None:
    done = store("done.csv")
    deleted = store("deleted.csv", CSV.replace(b"Salary", b"Bonus"))
    with db.session_scope() as session:
        record = session.get(StoredFile, done)
        assert record is not None
        record.status, record.status_detail = "extracted", "by an aggregation run"
        session.add(record)
        files.delete_file(session=session, file_id=deleted)

    extraction_queue.submit([done, deleted, 999_999])
    assert extraction_queue.drain(timeout=30)

    record = file_row(done)
    assert record is not None
    assert (record.status, record.status_detail) == ("extracted", "by an aggregation run")
    assert file_row(deleted) is None
    with db.session_scope() as session:
        assert session.exec(select(Transaction)).all() == []


def test_the_worker_ends_when_idle_and_a_new_submit_starts_another(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(extraction_queue, "IDLE_EXIT_S", 0.1)
    queue = extraction_queue.ExtractionQueue()
    first = store("a.csv")
    queue.submit([first])
    assert queue.drain(timeout=30)
    deadline = time.monotonic() + 5
    while queue._thread is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert queue._thread is None, "the idle worker did not end"

    second = store("b.csv", OTHER_CSV)
    queue.submit([second])
    assert queue.drain(timeout=30)
    record = file_row(second)
    assert record is not None and record.status == "extracted"


def test_mail_files_left_pending_by_a_stopped_process_are_queued_by_the_next_scheduler(
    database: Path,
) -> None:
    """The files a process stored from mail but did not get to extract (it was stopped) are
    queued again when a scheduler becomes active; uploads keep waiting for aggregation."""
    from finapp.services.scheduler import Scheduler

    left_over = store("left.csv")  # source "email", pending, and no queue knows it
    with db.session_scope() as session:
        upload = files.store_file(
            session=session, data=OTHER_CSV, filename="u.csv", project_id="acme", source="upload"
        ).file.id

    scheduler = Scheduler(tick=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while not scheduler.active and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.active
        assert extraction_queue.drain(timeout=30)
    finally:
        scheduler.stop(timeout=10)

    extracted, waiting = file_row(left_over), file_row(upload)  # type: ignore[arg-type]
    assert extracted is not None and waiting is not None
    assert (extracted.status, extracted.transaction_count) == ("extracted", 2)
    assert waiting.status == "pending"
