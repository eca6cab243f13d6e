"""Email ingestion against a real (private) Dovecot: every message exactly once, its statement
attachments stored and extracted, everything else recorded with the reason."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwt
from fpdf import FPDF
from PIL import Image
from sqlmodel import col, select

from finapp import db
from finapp.models import BatchJob, JobRun, Mailbox, ProcessedMail, StoredFile, Transaction
from finapp.services import (
    batch_jobs,
    crypto,
    email_ingest,
    extraction_queue,
    imap_structure,
    mailboxes,
)
from finapp.services import files as file_content
from finapp.services.errors import InvalidInput
from finapp.services.files import blob_path
from finapp.services.job_types import run_email_check
from tests.conftest import reload_settings
from tests.imap_server import (
    PNG_1X1,
    DovecotServer,
    add_rfc2047_attachment,
    dovecot,  # noqa: F401 - fixture
    find_dovecot,
    forward,
    free_port,
    mailbox_server,  # noqa: F401 - fixture
    make_message,
    malformed_message,
)

EMAIL_VARS = (
    "EMAIL_ADDRESS",
    "EMAIL_PASSWORD",
    "EMAIL_IMAP_SERVER",
    "EMAIL_IMAP_PORT",
    "EMAIL_SECURITY",
    "EMAIL_FOLDER",
    "EMAIL_SENDER_WHITELIST",
    "EMAIL_POLL_MINUTES",
    "EMAIL_CA_FILE",
    "EMAIL_DEFAULT_PROJECT",
)
SENDER = "bank@example.com"
TO = "finance@example.com"
PROJECT = "Q4_2024"


@pytest.fixture(autouse=True)
def no_email_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EMAIL_VARS:
        monkeypatch.delenv(name, raising=False)
    reload_settings()


@pytest.fixture(autouse=True)
def drop_test_folders(request: pytest.FixtureRequest) -> Iterator[None]:
    """Folders made here are removed afterwards: the shared Dovecot's `clear()` keeps them,
    and other modules expect only INBOX."""
    server = (
        request.getfixturevalue("mailbox_server")
        if "mailbox_server" in request.fixturenames
        else None
    )
    yield
    if server is not None and server.is_running():
        server.clear(delete_folders=True)


# -- content builders -----------------------------------------------------------------------------


def statement_csv(tag: str, rows: int = 2) -> bytes:
    """A small CSV statement whose lines are unique to `tag` (so no two files share rows)."""
    lines = ["Date,Description,Amount"]
    lines += [f"2024-01-{i + 1:02d},{tag} item {i + 1},-{i + 1}.25" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def statement_xlsx(tag: str) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Date", "Description", "Amount"])
    sheet.append([dt.date(2024, 2, 1), f"{tag} rent", -900.0])
    sheet.append([dt.date(2024, 2, 2), f"{tag} salary", 2500.0])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def statement_xls(tag: str) -> bytes:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Statement")
    style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for column, name in enumerate(["Date", "Description", "Amount"]):
        sheet.write(0, column, name)
    sheet.write(1, 0, dt.date(2024, 3, 1), style)
    sheet.write(1, 1, f"{tag} groceries")
    sheet.write(1, 2, -42.5)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def statement_ofx(tag: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" '
        'NEWFILEUID="NONE"?>\n'
        "<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>"
        "<DTSERVER>20240201120000</DTSERVER><LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1>"
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1</TRNUID>"
        "<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>"
        "<STMTRS><CURDEF>EUR</CURDEF><BANKACCTFROM><BANKID>1</BANKID>"
        f"<ACCTID>{tag}</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>"
        "<BANKTRANLIST><DTSTART>20240101</DTSTART><DTEND>20240131</DTEND>"
        "<STMTTRN><TRNTYPE>OTHER</TRNTYPE><DTPOSTED>20240115</DTPOSTED>"
        f"<TRNAMT>-12.34</TRNAMT><FITID>{tag}-1</FITID><NAME>{tag} shop</NAME></STMTTRN>"
        "</BANKTRANLIST><LEDGERBAL><BALAMT>100.00</BALAMT><DTASOF>20240131</DTASOF></LEDGERBAL>"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ).encode()


def statement_pdf(tag: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    pdf.cell(text=f"ACME Bank statement {tag}")
    pdf.ln(12)
    with pdf.table(borders_layout="ALL", first_row_as_headings=False) as table:
        table.row(("Date", "Description", "Amount", "Balance"))
        table.row(("05/01/2024", f"{tag} coffee", "-3.50", "996.50"))
        table.row(("31/01/2024", f"{tag} salary", "2,500.00", "3,496.50"))
    return bytes(pdf.output())


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def docx() -> bytes:
    return b"PK\x03\x04" + b"\x00" * 64  # the name alone decides: never opened


# -- helpers --------------------------------------------------------------------------------------


def add_mailbox(server: DovecotServer, name: str = "inbox", **values: Any) -> int:
    security = values.pop("security", "none")
    values = {
        "address": server.user,
        "password": server.password,
        "imap_server": "127.0.0.1",
        "imap_port": server.tls_port if security == "ssl" else server.port,
        "security": security,
        **values,
    }
    with db.session_scope() as session:
        return mailboxes.create_mailbox(session=session, name=name, **values).id  # type: ignore[return-value]


def ledger(mailbox_id: int | None = None) -> list[ProcessedMail]:
    with db.session_scope() as session:
        query = select(ProcessedMail).order_by(col(ProcessedMail.uid))
        if mailbox_id is not None:
            query = query.where(ProcessedMail.mailbox_id == mailbox_id)
        return list(session.exec(query).all())


def stored_files() -> list[StoredFile]:
    """The file rows, once the extraction the checks queued has finished (the check itself
    only queues it; the queue's own test shows it runs at once)."""
    assert extraction_queue.drain(timeout=60)
    with db.session_scope() as session:
        return list(session.exec(select(StoredFile).order_by(col(StoredFile.id))).all())


def mailbox_row(mailbox_id: int) -> Mailbox:
    with db.session_scope() as session:
        return mailboxes.get_mailbox(session=session, mailbox_id=mailbox_id)


def transactions_of(file_id: int) -> int:
    with db.session_scope() as session:
        return len(session.exec(select(Transaction).where(Transaction.file_id == file_id)).all())


def mail(subject: str = f"[{PROJECT}] Statement", **kwargs: Any):
    kwargs.setdefault("sender", SENDER)
    kwargs.setdefault("to", TO)
    return make_message(subject=subject, **kwargs)


def check_ok(mailbox_id: int) -> email_ingest.CheckResult:
    result = email_ingest.check_mailbox(mailbox_id)
    assert result.status == "ok", result.error
    return result


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def own_server(database: Path) -> Iterator[DovecotServer]:
    """A Dovecot of this test's own, for tests that kill it."""
    if find_dovecot() is None:
        pytest.skip("the `dovecot` binary is not installed")
    server = DovecotServer().start()
    try:
        yield server
    finally:
        server.stop()


# -- attachments ----------------------------------------------------------------------------------


def test_every_statement_type_is_stored_with_its_kind_and_extracted(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    attachments = [
        ("statement.pdf", statement_pdf("pdf"), "application/pdf"),
        ("statement.xlsx", statement_xlsx("xlsx"), "application/octet-stream"),
        ("statement.xls", statement_xls("xls"), "application/vnd.ms-excel"),
        ("statement.csv", statement_csv("csv"), "text/csv"),
        ("statement.ofx", statement_ofx("ofx"), "application/x-ofx"),
        ("statement.qfx", statement_ofx("qfx"), "application/vnd.intu.qfx"),
        ("scan.png", PNG_1X1, "image/png"),
        ("scan.jpg", jpeg(), "image/jpeg"),
        ("notes.docx", docx(), "application/octet-stream"),
    ]
    uid = mailbox_server.append(mail(attachments=attachments))
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    assert (result.new_messages, result.processed) == (1, 1)
    [entry] = ledger(mailbox_id)
    assert (entry.uid, entry.status, entry.project_id) == (uid, "processed", PROJECT)
    assert entry.reason == "Ignored (not a statement type): notes.docx."
    assert entry.attachment_names == [name for name, _, _ in attachments]
    by_name = {f.original_name: f for f in stored_files()}
    assert {name: f.kind for name, f in by_name.items()} == {
        "statement.pdf": "pdf",
        "statement.xlsx": "xlsx",
        "statement.xls": "xls",
        "statement.csv": "csv",
        "statement.ofx": "ofx",
        "statement.qfx": "ofx",
        "scan.png": "png",
        "scan.jpg": "jpeg",
    }
    assert sorted(entry.file_ids) == sorted(f.id for f in by_name.values())
    assert {f.source for f in by_name.values()} == {"email"}
    assert {f.project_id for f in by_name.values()} == {PROJECT}
    lines = {"pdf": 2, "xlsx": 2, "xls": 1, "csv": 2, "ofx": 1, "qfx": 1}
    for ext, count in lines.items():
        record = by_name[f"statement.{ext}"]
        assert (record.status, record.transaction_count) == ("extracted", count), (
            ext,
            record.status_detail,
        )
        assert transactions_of(record.id) == count
    assert by_name["scan.png"].status == by_name["scan.jpg"].status == "skipped"
    assert sorted(f.original_name for f in stored_files()) == sorted(by_name)
    assert [n.filename for n in result.new_files] == [f.original_name for f in stored_files()]


def test_mail_with_only_unaccepted_attachments_is_skipped_with_a_note(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(mail(attachments=[("notes.docx", docx(), "application/octet-stream")]))
    mailbox_server.append(mail(subject=f"[{PROJECT}] Hello", body="No files today."))
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    assert (result.new_messages, result.skipped, result.processed) == (2, 2, 0)
    assert [e.reason for e in ledger(mailbox_id)] == [
        "No statement attachments (ignored: notes.docx).",
        "No statement attachments.",
    ]
    assert stored_files() == []


def test_rfc2231_and_rfc2047_encoded_names_are_decoded(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    name = "Übersicht_€_日本.csv"
    message = mail(attachments=[(name, statement_csv("rfc2231"), "text/csv")])  # RFC 2231
    add_rfc2047_attachment(message, name, statement_csv("rfc2047"), "text/csv")
    mailbox_server.append(message)
    mailbox_id = add_mailbox(mailbox_server)

    check_ok(mailbox_id)

    files = stored_files()
    assert [(f.original_name, f.safe_name) for f in files] == [(name, name)] * 2
    assert [f.status for f in files] == ["extracted", "extracted"]
    assert ledger(mailbox_id)[0].attachment_names == [name, name]


def test_hostile_filenames_get_safe_names_and_blobs_stay_in_the_data_dir(
    database: Path,
    data_dir: Path,
    tmp_path: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    hostile = {
        "../../etc/passwd.csv": "passwd.csv",
        "C:\\evil.csv": "evil.csv",
        "..\\..\\windows\\system32.csv": "system32.csv",
    }
    mailbox_server.append(
        mail(
            attachments=[
                (name, statement_csv(f"hostile{i}"), "text/csv") for i, name in enumerate(hostile)
            ]
        )
    )
    mailbox_id = add_mailbox(mailbox_server)
    before = set(tmp_path.rglob("*"))

    check_ok(mailbox_id)

    files = stored_files()
    assert {f.original_name: f.safe_name for f in files} == hostile
    for record in files:
        assert "/" not in record.safe_name and "\\" not in record.safe_name
        with db.session_scope() as session:  # small content: in the database, by its hash
            assert file_content.read_content(session=session, sha256=record.sha256)
        assert not blob_path(record.sha256).exists()
    created = set(tmp_path.rglob("*")) - before
    assert all(p.resolve().is_relative_to(data_dir.resolve()) for p in created)
    assert not (data_dir.parent.parent / "etc").exists()
    assert not Path("/etc/passwd.csv").exists()
    incoming = data_dir / "files" / "incoming"
    assert not incoming.exists() or not list(incoming.iterdir())  # no temporary left


def test_forwarded_message_stores_the_pdf_inside_once(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    original = make_message(
        sender="supplier@example.com",
        to="bank@example.com",
        subject="Invoice 42",
        attachments=[("invoice-42.pdf", statement_pdf("fwd"), "application/pdf")],
    )
    mailbox_server.append(
        forward(original, sender=SENDER, subject="Fwd: Invoice - Project Q4_2024")
    )
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    files = stored_files()
    assert [(f.original_name, f.kind, f.project_id) for f in files] == [
        ("invoice-42.pdf", "pdf", PROJECT)
    ]
    assert [n.filename for n in result.new_files] == ["invoice-42.pdf"]
    assert ledger(mailbox_id)[0].attachment_names == ["invoice-42.pdf"]


def test_inline_pdf_with_a_name_is_stored_and_a_signature_image_ignored(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(  # Apple Mail: the real attachment is marked inline
        mail(
            body="Statement attached.",
            inline=[("apple.pdf", statement_pdf("apple"), "application/pdf")],
            signature_image=True,
        )
    )
    mailbox_server.append(mail(subject=f"[{PROJECT}] Thanks", body="Hi", signature_image=True))
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    assert [f.original_name for f in stored_files()] == ["apple.pdf"]
    first, second = ledger(mailbox_id)
    assert (first.status, first.attachment_names, first.reason) == ("processed", ["apple.pdf"], "")
    assert (second.status, second.reason) == ("skipped", "No statement attachments.")
    assert (result.processed, result.skipped) == (1, 1)


def test_attachment_over_the_size_limit_fails_the_mail_but_not_its_other_files(
    database: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    monkeypatch.setenv("FINAPP_MAX_FILE_MB", "1")
    reload_settings()
    big = statement_csv("big", rows=1) + b"2024-01-02,padding,1.00\n" * 50_000  # ~1.2 MB
    assert len(big) > 1024 * 1024
    only_big = mailbox_server.append(mail(attachments=[("big.csv", big, "text/csv")]))
    mixed = mailbox_server.append(
        mail(
            attachments=[
                ("big.csv", big, "text/csv"),
                ("small.csv", statement_csv("small"), "text/csv"),
            ]
        )
    )
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    rows = {e.uid: e for e in ledger(mailbox_id)}
    assert rows[only_big].status == "failed"
    assert "larger than the 1 MB limit" in rows[only_big].reason
    assert rows[only_big].file_ids == []
    assert rows[mixed].status == "processed"
    assert "larger than the 1 MB limit" in rows[mixed].reason
    assert [f.original_name for f in stored_files()] == ["small.csv"]
    assert rows[mixed].file_ids == [stored_files()[0].id]
    assert (result.failed, result.processed) == (1, 1)
    incoming = data_dir / "files" / "incoming"
    assert not incoming.exists() or not list(incoming.iterdir())
    with db.session_scope() as session:
        stats = email_ingest.statistics(session=session)
    assert stats["failed_by_reason"] == {"file too large": 1}


def test_malformed_mime_is_recorded_and_does_not_stop_the_others(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    before = mailbox_server.append(mail(attachments=[("a.csv", statement_csv("a"), "text/csv")]))
    broken = mailbox_server.append(malformed_message())
    after = mailbox_server.append(mail(attachments=[("b.csv", statement_csv("b"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server, default_project="fallback")

    result = check_ok(mailbox_id)

    rows = {e.uid: e for e in ledger(mailbox_id)}
    assert set(rows) == {before, broken, after}
    assert rows[before].status == rows[after].status == "processed"
    assert rows[broken].status in ("processed", "skipped", "failed")
    assert rows[broken].sender == "" and rows[broken].message_id == ""
    assert sorted(f.original_name for f in stored_files() if f.project_id == PROJECT) == [
        "a.csv",
        "b.csv",
    ]
    assert result.new_messages == 3
    assert check_ok(mailbox_id).new_messages == 0


def test_a_message_that_cannot_be_read_is_a_failed_row(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A message the parser chokes on is a failed ledger row with the reason; the next is fine."""
    bad = mailbox_server.append(
        mail(subject="[Q4_2024] bad", attachments=[("x.csv", b"a", "text/csv")])
    )
    good = mailbox_server.append(mail(attachments=[("g.csv", statement_csv("g"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server)
    real_read = email_ingest._read

    def exploding(entry: Any, mailbox: Any, content: Any, *args: Any) -> Any:
        if content.headers.subject == "[Q4_2024] bad":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return real_read(entry, mailbox, content, *args)

    monkeypatch.setattr(email_ingest, "_read", exploding)

    result = check_ok(mailbox_id)

    rows = {e.uid: e for e in ledger(mailbox_id)}
    assert rows[bad].status == "failed"
    assert rows[bad].reason.startswith("Could not read the message: UnicodeDecodeError")
    assert rows[good].status == "processed"
    assert (result.failed, result.processed) == (1, 1)


@pytest.mark.parametrize("broken", ["leaf_parts", "parse_fetch"])
def test_a_structure_that_cannot_be_read_falls_back_to_the_whole_message(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    broken: str,
) -> None:
    """The check reads parts by the server's BODYSTRUCTURE; where that fails — one message's
    structure, or a whole answer the parser cannot read — it fetches the whole message and
    parses it itself, with the same result."""
    name = "Übersicht_€.csv"
    message = mail(attachments=[(name, statement_csv("whole"), "text/csv")])
    add_rfc2047_attachment(message, "second.csv", statement_csv("whole2"), "text/csv")
    mailbox_server.append(message)
    mailbox_id = add_mailbox(mailbox_server)
    calls = 0

    def unreadable(*_args: Any) -> Any:
        nonlocal calls
        calls += 1
        raise imap_structure.StructureError("not today")

    monkeypatch.setattr(imap_structure, broken, unreadable)

    result = check_ok(mailbox_id)

    assert calls == 1
    assert (result.processed, len(result.new_files)) == (1, 2)
    assert [(f.original_name, f.status) for f in stored_files()] == [
        (name, "extracted"),
        ("second.csv", "extracted"),
    ]


# -- senders, projects, folders -------------------------------------------------------------------


def test_sender_whitelist_with_an_address_and_a_domain(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    senders = {
        "bank@example.com": "processed",
        "Bank Statements <BANK@Example.com>": "processed",
        "clerk@accounting.example": "processed",
        "mallory@example.com": "skipped",
        "bank@example.com.evil.test": "skipped",
        "eve@sub.accounting.example": "skipped",
    }
    uids = {
        sender: mailbox_server.append(
            mail(sender=sender, attachments=[("s.csv", statement_csv(f"w{i}"), "text/csv")])
        )
        for i, sender in enumerate(senders)
    }
    mailbox_id = add_mailbox(
        mailbox_server, sender_whitelist="bank@example.com, @accounting.example"
    )

    result = check_ok(mailbox_id)

    rows = {e.uid: e for e in ledger(mailbox_id)}
    assert {s: rows[uid].status for s, uid in uids.items()} == senders
    assert rows[uids["mallory@example.com"]].reason == (
        "Sender mallory@example.com is not on the whitelist."
    )
    assert (result.processed, result.skipped) == (3, 3)
    assert len(stored_files()) == 3
    with db.session_scope() as session:
        stats = email_ingest.statistics(session=session)
    assert stats["skipped_by_reason"] == {"sender not whitelisted": 3}


def test_same_message_id_in_two_folders_is_handled_per_folder(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.create_folder("Archive")
    message = mail(
        message_id="<same-123@bank.example>",
        attachments=[("statement.csv", statement_csv("same"), "text/csv")],
    )
    inbox_uid = mailbox_server.append(message)
    archive_uid = mailbox_server.append(message, folder="Archive")
    inbox = add_mailbox(mailbox_server, "inbox")
    archive = add_mailbox(mailbox_server, "archive", folder="Archive")

    check_ok(inbox)
    check_ok(archive)

    [in_inbox] = ledger(inbox)
    [in_archive] = ledger(archive)
    assert (in_inbox.folder, in_inbox.uid, in_inbox.status) == ("INBOX", inbox_uid, "processed")
    assert (in_archive.folder, in_archive.uid, in_archive.status) == (
        "Archive",
        archive_uid,
        "processed",
    )
    assert in_inbox.message_id == in_archive.message_id == "<same-123@bank.example>"
    first, second = stored_files()
    assert first.duplicate_of_id is None and first.status == "extracted"
    assert second.duplicate_of_id == first.id and second.status == "skipped"
    assert first.sha256 == second.sha256

    # the same mailbox pointed at the other folder: that folder's messages are new to it
    with db.session_scope() as session:
        mailboxes.update_mailbox(session=session, mailbox_id=inbox, folder="Archive")
    result = check_ok(inbox)
    assert result.new_messages == 1
    assert sorted((e.folder, e.uid) for e in ledger(inbox)) == [
        ("Archive", archive_uid),
        ("INBOX", inbox_uid),
    ]
    third = stored_files()[-1]
    assert third.duplicate_of_id == first.id
    assert check_ok(inbox).new_messages == 0
    assert check_ok(archive).new_messages == 0
    with db.session_scope() as session:
        assert session.exec(select(Transaction)).all().__len__() == 2  # one file's two lines


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Invoice - Project Q4_2024", ""),
        ("[Q4_2024] Weekly Report", ""),
        ("Monthly statement", "Hello,\n\nProject: Q4_2024\n\nRegards"),
        ("Project_Q4_2024 Budget Update", ""),
    ],
    ids=["project-word", "brackets", "body-line", "underscore"],
)
def test_project_id_conventions(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    subject: str,
    body: str,
) -> None:
    mailbox_server.append(
        mail(subject=subject, body=body, attachments=[("s.csv", statement_csv("p"), "text/csv")])
    )
    mailbox_id = add_mailbox(mailbox_server, default_project="fallback")

    check_ok(mailbox_id)

    [entry] = ledger(mailbox_id)
    assert (entry.status, entry.project_id) == ("processed", PROJECT)
    assert [f.project_id for f in stored_files()] == [PROJECT]


def test_mail_without_a_project_waits_unassigned_until_given_one(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    uid = mailbox_server.append(
        mail(
            subject="Your statement",
            body="See attached.",
            attachments=[
                ("statement.csv", statement_csv("unassigned"), "text/csv"),
                ("notes.docx", docx(), "application/octet-stream"),
            ],
        )
    )
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    assert (result.unassigned, result.new_files) == (1, [])
    [entry] = ledger(mailbox_id)
    assert (entry.uid, entry.status, entry.project_id) == (uid, "unassigned", None)
    assert "No project id" in entry.reason
    assert entry.attachment_names == ["statement.csv", "notes.docx"]
    assert stored_files() == []

    assigned = email_ingest.assign_project(ledger_id=entry.id, project_id="acme")

    assert (assigned.status, assigned.project_id) == ("processed", "acme")
    [record] = stored_files()
    assert (record.original_name, record.project_id, record.status) == (
        "statement.csv",
        "acme",
        "extracted",
    )
    assert record.transaction_count == 2
    assert assigned.file_ids == [record.id]
    assert "notes.docx" in assigned.reason
    [again] = ledger(mailbox_id)
    assert (again.id, again.status) == (entry.id, "processed")
    with pytest.raises(InvalidInput, match="Only unassigned"):
        email_ingest.assign_project(ledger_id=entry.id, project_id="acme")
    assert check_ok(mailbox_id).new_messages == 0
    assert len(stored_files()) == 1


def test_default_project_is_used_when_the_mail_names_none(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(
        mail(subject="Statement", attachments=[("a.csv", statement_csv("d1"), "text/csv")])
    )
    mailbox_server.append(
        mail(
            subject="[Q4_2024] Statement", attachments=[("b.csv", statement_csv("d2"), "text/csv")]
        )
    )
    mailbox_id = add_mailbox(mailbox_server, default_project="inbox-default")

    check_ok(mailbox_id)

    assert [(e.status, e.project_id) for e in ledger(mailbox_id)] == [
        ("processed", "inbox-default"),
        ("processed", PROJECT),
    ]


# -- the ledger -----------------------------------------------------------------------------------


def test_ledger_rows_are_right_and_a_second_check_is_a_no_op(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    sent = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC)
    uid_a = mailbox_server.append(
        mail(
            sender="Bank <bank@example.com>",
            subject="[Q4_2024] Statement May",
            message_id="<may-2024@bank.example>",
            date=sent,
            attachments=[("may.csv", statement_csv("may", rows=3), "text/csv")],
        )
    )
    uid_b = mailbox_server.append(mail(subject="Newsletter", body="no files"))
    mailbox_id = add_mailbox(mailbox_server)

    first = check_ok(mailbox_id)

    assert (first.new_messages, first.processed, first.skipped) == (2, 1, 1)
    rows = ledger(mailbox_id)
    uidvalidity = mailbox_server.uidvalidity()
    assert [(e.uid, e.uidvalidity, e.folder) for e in rows] == [
        (uid_a, uidvalidity, "INBOX"),
        (uid_b, uidvalidity, "INBOX"),
    ]
    a = rows[0]
    assert a.message_id == "<may-2024@bank.example>"
    assert a.sender == "bank@example.com"
    assert a.subject == "[Q4_2024] Statement May"
    assert a.received_at is not None
    assert a.received_at.replace(tzinfo=dt.UTC) == sent
    [new] = first.new_files
    assert new.filename == new.saved_as == "may.csv"
    assert new.project_id == PROJECT and new.message_id == a.message_id
    assert new.size == len(statement_csv("may", rows=3))
    # extracted right after the check, not at some later aggregation
    [record] = stored_files()
    assert (record.status, record.transaction_count) == ("extracted", 3)
    assert transactions_of(record.id) == 3
    assert record.source_ref == "inbox:<may-2024@bank.example>"
    status = mailbox_row(mailbox_id)
    assert (status.last_status, status.last_error, status.check_started_at) == (
        "connected",
        "",
        None,
    )
    assert status.last_check_at is not None

    second = check_ok(mailbox_id)

    assert (second.new_messages, second.processed, second.new_files) == (0, 0, [])
    assert len(ledger(mailbox_id)) == 2
    assert len(stored_files()) == 1
    assert mailbox_server.flags("INBOX", uid_a) == set()  # post_action none: not even \Seen


def test_exactly_once_across_a_server_crash(
    own_server: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dies after the third chunk is committed, while the check goes on fetching."""
    server = own_server
    count, chunk = 120, 20
    crash_after = 3 * chunk
    monkeypatch.setattr(email_ingest, "FETCH_CHUNK_MESSAGES", chunk)
    for i in range(count):
        server.append(
            mail(
                subject=f"[CRASH_1] Statement {i}",
                message_id=f"<crash-{i}@bank.example>",
                attachments=[(f"s{i}.csv", statement_csv(f"crash{i}"), "text/csv")],
            )
        )
    mailbox_id = add_mailbox(server)
    original = email_ingest._record_chunk
    recorded = 0

    def crash_midway(prepared: list[email_ingest.PreparedMail]) -> Any:
        nonlocal recorded
        result = original(prepared)
        recorded += len(result)
        if recorded == crash_after:
            server.kill()
        return result

    monkeypatch.setattr(email_ingest, "_record_chunk", crash_midway)
    results: list[email_ingest.CheckResult] = []
    thread = threading.Thread(
        target=lambda: results.append(email_ingest.check_mailbox(mailbox_id)), daemon=True
    )
    thread.start()
    thread.join(90)
    assert not thread.is_alive(), "the check hung after the server died"

    [crashed] = results
    assert crashed.status == "error"
    assert "connection was lost" in crashed.error
    assert crashed.processed == crash_after
    after_crash = ledger(mailbox_id)
    assert len(after_crash) == crashed.processed
    status = mailbox_row(mailbox_id)
    assert (status.last_status, status.last_error, status.check_started_at) == (
        "error",
        crashed.error,
        None,
    )

    monkeypatch.setattr(email_ingest, "_record_chunk", original)
    server.restart()
    resumed = check_ok(mailbox_id)

    assert resumed.new_messages == count - len(after_crash)
    rows = ledger(mailbox_id)
    assert sorted(e.uid for e in rows) == server.uids()
    assert len({e.uid for e in rows}) == count
    assert {e.status for e in rows} == {"processed"}
    assert {e.message_id for e in rows} == {f"<crash-{i}@bank.example>" for i in range(count)}
    files = stored_files()
    assert len(files) == count
    assert set(Counter(f.source_ref for f in files).values()) == {1}
    assert set(Counter(f.sha256 for f in files).values()) == {1}
    assert {f.duplicate_of_id for f in files} == {None}
    assert {f.status for f in files} == {"extracted"}
    with db.session_scope() as session:
        assert len(session.exec(select(Transaction)).all()) == 2 * count
    assert check_ok(mailbox_id).new_messages == 0


# -- connection errors ----------------------------------------------------------------------------


def test_wrong_password_is_a_login_error_on_the_mailbox(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_id = add_mailbox(mailbox_server, password="not-the-password")

    result = email_ingest.check_mailbox(mailbox_id)

    assert result.status == "error"
    assert result.error.startswith("Login failed")
    status = mailbox_row(mailbox_id)
    assert status.last_status == "error"
    assert status.last_error == result.error
    assert status.check_started_at is None


def test_imaps_with_the_ca_file_connects(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(mail(attachments=[("tls.csv", statement_csv("tls"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server, security="ssl", ca_file=mailbox_server.ca_file)

    result = check_ok(mailbox_id)

    assert [f.filename for f in result.new_files] == ["tls.csv"]
    assert mailbox_row(mailbox_id).last_status == "connected"


def test_starttls_with_the_ca_file_connects(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(mail(attachments=[("tls.csv", statement_csv("starttls"), "text/csv")]))
    mailbox_id = add_mailbox(
        mailbox_server,
        security="starttls",
        imap_port=mailbox_server.port,
        ca_file=mailbox_server.ca_file,
    )

    result = check_ok(mailbox_id)

    assert [f.filename for f in result.new_files] == ["tls.csv"]


def test_imaps_without_the_ca_file_is_not_trusted(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(mail(attachments=[("x.csv", statement_csv("untrusted"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server, security="ssl")  # system CAs only

    result = email_ingest.check_mailbox(mailbox_id)

    assert result.status == "error"
    assert result.error.startswith("TLS certificate not trusted")
    assert ledger(mailbox_id) == []
    assert mailbox_row(mailbox_id).last_status == "error"


def test_refused_port(database: Path) -> None:
    with db.session_scope() as session:
        mailbox_id = mailboxes.create_mailbox(
            session=session,
            name="nowhere",
            password="x",
            address="a@example.com",
            imap_server="127.0.0.1",
            imap_port=free_port(),
            security="none",
        ).id
    assert mailbox_id is not None

    result = email_ingest.check_mailbox(mailbox_id)

    assert result.status == "error"
    assert result.error.startswith("Connection refused")
    assert mailbox_row(mailbox_id).last_error == result.error


def test_unencrypted_imap_to_another_host_is_refused_at_validation(database: Path) -> None:
    values = {"address": "a@example.com", "imap_port": 143, "security": "none"}
    with db.session_scope() as session:
        with pytest.raises(InvalidInput, match="only allowed to this machine"):
            mailboxes.create_mailbox(
                session=session,
                name="remote",
                password="x",
                imap_server="imap.example.com",
                **values,
            )
        with pytest.raises(InvalidInput, match="only allowed to this machine"):
            mailboxes.create_mailbox(
                session=session, name="remote2", password="x", imap_server="10.0.0.5", **values
            )
        local = mailboxes.create_mailbox(
            session=session, name="local", password="x", imap_server="localhost", **values
        )
        with pytest.raises(InvalidInput, match="only allowed to this machine"):
            mailboxes.update_mailbox(
                session=session, mailbox_id=local.id, imap_server="imap.example.com"
            )
        assert mailboxes.get_mailbox(session=session, mailbox_id=local.id).imap_server == (
            "localhost"
        )


# -- after processing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "arg"), [("seen", ""), ("flag", "finapp-done"), ("move", "Processed")]
)
def test_post_processing_action_touches_only_processed_mail(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    action: str,
    arg: str,
) -> None:
    mailbox_server.create_folder("Processed")
    processed = mailbox_server.append(
        mail(
            message_id="<done@bank.example>",
            attachments=[("s.csv", statement_csv("post"), "text/csv")],
        )
    )
    skipped = mailbox_server.append(mail(subject="[Q4_2024] no files", body="hello"))
    unassigned = mailbox_server.append(
        mail(subject="Statement", attachments=[("u.csv", statement_csv("unassigned"), "text/csv")])
    )
    mailbox_id = add_mailbox(mailbox_server, post_action=action, post_action_arg=arg)

    result = check_ok(mailbox_id)

    assert (result.processed, result.skipped, result.unassigned) == (1, 1, 1)
    if action == "move":
        assert mailbox_server.uids("INBOX") == [skipped, unassigned]
        [moved] = mailbox_server.uids("Processed")
        assert b"<done@bank.example>" in mailbox_server.fetch_raw("Processed", moved)
    else:
        expected = {"\\Seen"} if action == "seen" else {"finapp-done"}
        assert mailbox_server.flags("INBOX", processed) == expected
        assert mailbox_server.uids("INBOX") == [processed, skipped, unassigned]
    assert mailbox_server.flags("INBOX", skipped) == set()
    assert mailbox_server.flags("INBOX", unassigned) == set()
    assert check_ok(mailbox_id).new_messages == 0


def test_move_does_not_expunge_other_mail_marked_deleted(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.create_folder("Processed")
    mailbox_server.append(mail(attachments=[("s.csv", statement_csv("mv"), "text/csv")]))
    # deleted in a mail client that does not expunge (Thunderbird's "mark as deleted"),
    # and not something finapp processes: it must stay where it is
    kept = mailbox_server.append(mail(subject="Newsletter", body="hi"), flags=["\\Deleted"])
    mailbox_id = add_mailbox(mailbox_server, post_action="move", post_action_arg="Processed")

    check_ok(mailbox_id)

    assert len(mailbox_server.uids("Processed")) == 1
    assert mailbox_server.uids("INBOX") == [kept]


def test_two_checks_at_once_the_second_is_busy(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mailbox_server.append(mail(attachments=[("s.csv", statement_csv("busy"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server)
    original = email_ingest.prepare_message
    entered, release = threading.Event(), threading.Event()

    def held(**kwargs: Any) -> email_ingest.PreparedMail:
        entered.set()
        release.wait(20)
        return original(**kwargs)

    monkeypatch.setattr(email_ingest, "prepare_message", held)
    results: list[email_ingest.CheckResult] = []
    thread = threading.Thread(
        target=lambda: results.append(email_ingest.check_mailbox(mailbox_id)), daemon=True
    )
    thread.start()
    try:
        assert entered.wait(20)
        second = email_ingest.check_mailbox(mailbox_id)
    finally:
        release.set()
        thread.join(30)

    assert second.status == "busy"
    assert "already running" in second.error
    assert second.new_messages == 0
    [first] = results
    assert (first.status, first.processed) == ("ok", 1)
    assert mailbox_row(mailbox_id).check_started_at is None
    assert len(ledger(mailbox_id)) == 1
    assert check_ok(mailbox_id).new_messages == 0  # the claim was released


def test_a_check_that_died_long_ago_does_not_block_the_mailbox(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_id = add_mailbox(mailbox_server)
    with db.session_scope() as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None
        row.check_started_at = db.utcnow() - dt.timedelta(minutes=5)
    assert email_ingest.check_mailbox(mailbox_id).status == "busy"
    with db.session_scope() as session:
        row = session.get(Mailbox, mailbox_id)
        assert row is not None
        row.check_started_at = (
            db.utcnow() - email_ingest.CHECK_STALE_AFTER - dt.timedelta(minutes=1)
        )
    assert email_ingest.check_mailbox(mailbox_id).status == "ok"


def test_a_check_whose_process_died_does_not_block_the_mailbox(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    """A check killed mid-way (its process gone from this host) frees the mailbox at once; a
    claim held by a live process still blocks, however it got there."""
    import subprocess

    mailbox_id = add_mailbox(mailbox_server)
    finished = subprocess.run(["true"], check=True)  # a pid that has just ended
    dead = subprocess.Popen(["true"])
    dead.wait()
    alive_elsewhere = f"{socket.gethostname()}:{os.getppid()}"
    assert finished.returncode == 0

    def hold(owner: str) -> None:
        with db.session_scope() as session:
            row = session.get(Mailbox, mailbox_id)
            assert row is not None
            row.check_started_at, row.check_owner = db.utcnow(), owner

    hold(alive_elsewhere)
    assert email_ingest.check_mailbox(mailbox_id).status == "busy"
    hold(f"{socket.gethostname()}:{dead.pid}")
    assert email_ingest.check_mailbox(mailbox_id).status == "ok"
    row = mailbox_row(mailbox_id)
    assert (row.check_started_at, row.check_owner) == (None, "")
    hold(f"another-host:{dead.pid}")  # cannot be checked from here: waits for staleness
    assert email_ingest.check_mailbox(mailbox_id).status == "busy"


# -- secrets --------------------------------------------------------------------------------------


def test_mailbox_passwords_are_encrypted_at_rest(
    database: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(mail(attachments=[("s.csv", statement_csv("secret"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server)

    with sqlite3.connect(database) as raw:
        [(stored,)] = raw.execute(
            "SELECT password_encrypted FROM mailbox WHERE id = ?", (mailbox_id,)
        ).fetchall()
    assert stored and mailbox_server.password not in stored
    assert mailbox_server.password.encode() not in database.read_bytes()
    assert crypto.decrypt(stored) == mailbox_server.password
    assert crypto.encrypt(mailbox_server.password) != stored  # randomised per encryption

    monkeypatch.setenv("JWT_SECRET_KEY", "another-secret-" + "x" * 40)
    reload_settings()

    with pytest.raises(
        InvalidInput, match=r"cannot be decrypted .*app secret changed.*enter it again"
    ):
        crypto.decrypt(stored)
    result = email_ingest.check_mailbox(mailbox_id)
    assert result.status == "error"
    assert "cannot be decrypted" in result.error
    assert mailbox_row(mailbox_id).last_status == "error"
    assert ledger(mailbox_id) == []


# -- the mailbox from EMAIL_* ---------------------------------------------------------------------


def test_env_mailbox_and_its_batch_job_store_the_files(
    database: Path,
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    from finapp import manage
    from finapp.services.scheduler import Scheduler

    mailbox_server.append(
        mail(
            subject="[ENV_1] Statement",
            attachments=[("env.csv", statement_csv("env"), "text/csv")],
        )
    )
    env = {
        "EMAIL_ADDRESS": mailbox_server.user,
        "EMAIL_PASSWORD": mailbox_server.password,
        "EMAIL_IMAP_SERVER": "127.0.0.1",
        "EMAIL_IMAP_PORT": str(mailbox_server.port),
        "EMAIL_SECURITY": "none",
        "EMAIL_POLL_MINUTES": "15",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()

    manage.prepare()

    with db.session_scope() as session:
        [box] = mailboxes.list_mailboxes(session=session)
        assert (box.name, box.source, box.address, box.imap_port, box.security) == (
            "default",
            "env",
            mailbox_server.user,
            mailbox_server.port,
            "none",
        )
        assert box.password_encrypted == ""
        job = session.exec(select(BatchJob).where(BatchJob.job_id == "email-check")).one()
        assert (job.job_type, job.cron, job.enabled) == (
            "email_check",
            batch_jobs.poll_schedule(15),
            True,
        )
        assert job.cron == "*/15 * * * *"
    assert mailbox_server.password.encode() not in database.read_bytes()

    scheduler = Scheduler(tick=0.05).start()
    try:
        wait_for(lambda: scheduler.active, what="the scheduler to be active")
        with db.session_scope() as session:
            run_id = batch_jobs.run_now(session=session, job_id="email-check").id
        scheduler.notify()

        def finished() -> JobRun | None:
            with db.session_scope() as session:
                run = session.get(JobRun, run_id)
                return run if run and run.status not in ("queued", "running") else None

        run = wait_for(finished, timeout=60, what="the email-check run")
    finally:
        scheduler.stop(timeout=10)

    assert run.status == "completed", (run.error, run.log)
    assert run.result == {"mailboxes": 1, "new_messages": 1, "files": 1, "errors": []}
    assert "default: ok" in run.log
    [record] = stored_files()
    assert (record.original_name, record.project_id, record.status) == (
        "env.csv",
        "ENV_1",
        "extracted",
    )

    # unsetting EMAIL_* disables the mailbox and pauses the job at the next start
    for name in env:
        monkeypatch.delenv(name)
    reload_settings()
    manage.prepare()
    with db.session_scope() as session:
        [box] = mailboxes.list_mailboxes(session=session)
        assert (box.enabled, box.last_status) == (False, mailboxes.UNCONFIGURED)
        job = session.exec(select(BatchJob).where(BatchJob.job_id == "email-check")).one()
        assert job.enabled is False

    # setting them again brings it back at the next start...
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    manage.prepare()
    with db.session_scope() as session:
        [box] = mailboxes.list_mailboxes(session=session)
        assert (box.enabled, box.last_status) == (True, "never")
        # ...but an admin who turns it off keeps it off across restarts
        mailboxes.update_mailbox(session=session, mailbox_id=box.id, enabled=False)
    manage.prepare()
    with db.session_scope() as session:
        [box] = mailboxes.list_mailboxes(session=session)
        assert box.enabled is False


def test_email_check_job_fails_when_every_mailbox_fails(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    add_mailbox(mailbox_server, "bad", password="wrong")
    with db.session_scope() as session:
        job = session.exec(select(BatchJob).where(BatchJob.job_id == "email-check")).one()
        with pytest.raises(RuntimeError, match="bad: Login failed"):
            run_email_check(session, job, lambda line: None)
    good = add_mailbox(mailbox_server, "good")
    mailbox_server.append(mail(attachments=[("j.csv", statement_csv("job"), "text/csv")]))
    lines: list[str] = []
    with db.session_scope() as session:
        job = session.exec(select(BatchJob).where(BatchJob.job_id == "email-check")).one()
        summary = run_email_check(session, job, lines.append)
    assert summary["mailboxes"] == 2
    assert summary["files"] == 1
    assert [e.split(":")[0] for e in summary["errors"]] == ["bad"]
    assert any(line.startswith("good: ok") for line in lines)
    assert len(ledger(good)) == 1


# -- more ways mail arrives -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "date_header",
    ["Mon, 06 May 2024 07:08:09 -0000", "Mon, 06 May 2024 07:08:09"],
    ids=["minus-zero", "no-zone"],
)
def test_a_date_without_a_time_zone_does_not_fail_the_mail(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    date_header: str,
) -> None:
    message = mail(attachments=[("zone.csv", statement_csv("zone"), "text/csv")])
    message.replace_header("Date", date_header)
    mailbox_server.append(message)
    mailbox_id = add_mailbox(mailbox_server)

    check_ok(mailbox_id)

    [entry] = ledger(mailbox_id)
    assert (entry.status, entry.reason) == ("processed", "")
    assert [f.original_name for f in stored_files()] == ["zone.csv"]


@pytest.mark.parametrize(
    "subject",
    [
        "Fwd: [Q4_2024] Weekly Report",
        "Re: [Q4_2024] Weekly Report",
        "[EXTERNAL] [Q4_2024] Weekly Report",
    ],
    ids=["fwd", "re", "external-tag"],
)
def test_bracket_project_after_a_prefix(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    subject: str,
) -> None:
    mailbox_server.append(
        mail(subject=subject, attachments=[("w.csv", statement_csv("w"), "text/csv")])
    )
    mailbox_id = add_mailbox(mailbox_server)

    check_ok(mailbox_id)

    [entry] = ledger(mailbox_id)
    assert (entry.status, entry.project_id) == ("processed", PROJECT)


def test_project_line_in_an_html_only_body(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    message = mail(subject="Monthly statement")
    message.set_content(
        "<html><body><p>Dear team,</p><p>Project: Q4_2024</p></body></html>", subtype="html"
    )
    message.add_attachment(statement_csv("html"), "text", "csv", filename="html.csv")
    mailbox_server.append(message)
    mailbox_id = add_mailbox(mailbox_server)

    check_ok(mailbox_id)

    [entry] = ledger(mailbox_id)
    assert (entry.status, entry.project_id) == ("processed", PROJECT)


def test_folders_with_spaces_and_non_ascii_names_and_move_into_one(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    for folder in ("Kontoauszüge/2024", "Bank Statements", "Erledigt ✓"):
        mailbox_server.create_folder(folder)
    mailbox_server.append(
        mail(attachments=[("a.csv", statement_csv("umlaut"), "text/csv")]),
        folder="Kontoauszüge/2024",
    )
    mailbox_server.append(
        mail(attachments=[("b.csv", statement_csv("space"), "text/csv")]), folder="Bank Statements"
    )
    umlaut = add_mailbox(
        mailbox_server,
        "umlaut",
        folder="Kontoauszüge/2024",
        post_action="move",
        post_action_arg="Erledigt ✓",
    )
    space = add_mailbox(
        mailbox_server,
        "space",
        folder="Bank Statements",
        post_action="move",
        post_action_arg="Erledigt ✓",
    )

    assert check_ok(umlaut).processed == 1
    assert check_ok(space).processed == 1

    assert sorted(f.original_name for f in stored_files()) == ["a.csv", "b.csv"]
    assert mailbox_server.uids("Kontoauszüge/2024") == []
    assert mailbox_server.uids("Bank Statements") == []
    assert len(mailbox_server.uids("Erledigt ✓")) == 2
    assert [e.folder for e in ledger(umlaut)] == ["Kontoauszüge/2024"]


def test_a_missing_folder_is_an_error_naming_it(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_id = add_mailbox(mailbox_server, folder="Statemnts")

    result = email_ingest.check_mailbox(mailbox_id)

    assert result.status == "error"
    assert "Statemnts" in result.error
    assert mailbox_row(mailbox_id).last_status == "error"


def test_a_server_that_never_answers_times_out(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.setattr(email_ingest, "CONNECT_TIMEOUT", 1)
    with socket.socket() as silent:  # accepts (kernel backlog), never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with db.session_scope() as session:
            mailbox_id = mailboxes.create_mailbox(
                session=session,
                name="silent",
                password="x",
                address="a@example.com",
                imap_server="127.0.0.1",
                imap_port=silent.getsockname()[1],
                security="none",
            ).id
        assert mailbox_id is not None
        began = time.monotonic()
        result = email_ingest.check_mailbox(mailbox_id)
        elapsed = time.monotonic() - began

    assert result.status == "error"
    assert result.error == "Timed out after 1 s waiting for the server."
    assert elapsed < 10
    assert mailbox_row(mailbox_id).check_started_at is None


def test_a_recreated_folder_is_read_again_without_doubling_transactions(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.create_folder("Statements")
    message = mail(attachments=[("s.csv", statement_csv("recreated"), "text/csv")])
    mailbox_server.append(message, folder="Statements")
    mailbox_id = add_mailbox(mailbox_server, folder="Statements")
    check_ok(mailbox_id)
    old_validity = mailbox_server.uidvalidity("Statements")

    mailbox_server.delete_folder("Statements")
    mailbox_server.create_folder("Statements")
    mailbox_server.append(message, folder="Statements")
    assert mailbox_server.uidvalidity("Statements") != old_validity

    result = check_ok(mailbox_id)

    assert result.new_messages == 1
    assert sorted({e.uidvalidity for e in ledger(mailbox_id)}) == sorted(
        {old_validity, mailbox_server.uidvalidity("Statements")}
    )
    first, second = stored_files()
    assert second.duplicate_of_id == first.id
    with db.session_scope() as session:
        assert len(session.exec(select(Transaction)).all()) == 2
    assert check_ok(mailbox_id).new_messages == 0


def test_whitelist_entries_must_be_addresses_or_domains(database: Path) -> None:
    with (
        db.session_scope() as session,
        pytest.raises(InvalidInput, match="neither an address nor @domain"),
    ):
        mailboxes.create_mailbox(
            session=session,
            name="strict",
            password="x",
            address="a@example.com",
            imap_server="localhost",
            security="none",
            sender_whitelist="bank@example.com, example.org",
        )


def test_content_that_contradicts_the_name_is_refused_with_the_reason(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.append(
        mail(attachments=[("invoice.pdf", b"MZ\x90\x00" + b"\x00" * 64, "application/pdf")])
    )
    mailbox_server.append(
        mail(
            attachments=[
                ("export.xls", b"<html><table><tr><td>1</td></tr></table></html>", "text/html"),
                ("ok.csv", statement_csv("sniff"), "text/csv"),
            ]
        )
    )
    mailbox_id = add_mailbox(mailbox_server)

    result = check_ok(mailbox_id)

    exe, html = ledger(mailbox_id)
    assert exe.status == "failed"
    assert "named like a PDF but its content is a Windows executable" in exe.reason
    assert html.status == "processed"
    assert "really HTML or XML" in html.reason
    assert [f.original_name for f in stored_files()] == ["ok.csv"]
    assert (result.failed, result.processed) == (1, 1)
    with db.session_scope() as session:
        stats = email_ingest.statistics(session=session)
    assert stats["failed_by_reason"] == {"content does not match the file type": 1}


# -- chunks and batches ---------------------------------------------------------------------------


def test_fetch_chunks_bound_count_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_ingest, "FETCH_CHUNK_MESSAGES", 3)
    monkeypatch.setattr(email_ingest, "FETCH_CHUNK_BYTES", 100)
    sizes = [(1, 10), (2, 10), (3, 10), (4, 10), (5, 60), (6, 50), (7, 500), (8, 1)]
    assert list(email_ingest.fetch_chunks(sizes)) == [[1, 2, 3], [4, 5], [6], [7], [8]]
    assert list(email_ingest.fetch_chunks([])) == []


def test_a_check_fetches_in_chunks_no_bigger_than_the_byte_bound(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sizes come from the server before any message does; no bulk FETCH holds more than
    FETCH_CHUNK_BYTES (unless one message alone is bigger)."""
    big = b"Date,Description,Amount\n" + b"".join(
        f"2024-01-{1 + i % 28:02d},padding line {i},-1.00\n".encode() for i in range(400)
    )
    for i in range(5):
        mailbox_server.append(
            mail(
                subject=f"[{PROJECT}] Statement {i}",
                attachments=[(f"s{i}.csv", big.replace(b"padding", f"m{i}".encode()), "text/csv")],
            )
        )
    mailbox_id = add_mailbox(mailbox_server)
    size = len(big) * 4 // 3  # base64 on the wire
    monkeypatch.setattr(email_ingest, "FETCH_CHUNK_BYTES", 2 * size + 4096)
    chunks: list[int] = []
    original = email_ingest._record_chunk

    def counting(prepared: list[email_ingest.PreparedMail]) -> Any:
        chunks.append(len(prepared))
        return original(prepared)

    monkeypatch.setattr(email_ingest, "_record_chunk", counting)

    result = check_ok(mailbox_id)

    assert chunks == [2, 2, 1]
    assert (result.new_messages, result.processed, len(result.new_files)) == (5, 5, 5)
    assert {f.status for f in stored_files()} == {"extracted"}


def test_a_message_the_database_refuses_fails_alone(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If a chunk's transaction fails, its messages are recorded one by one: the one the
    database refuses is a failed ledger row (not fetched again), the others are stored."""
    from sqlalchemy.exc import IntegrityError

    good_uid = mailbox_server.append(mail(attachments=[("g.csv", statement_csv("g"), "text/csv")]))
    bad_uid = mailbox_server.append(
        mail(
            subject=f"[{PROJECT}] refused",
            attachments=[("b.csv", statement_csv("b"), "text/csv")],
        )
    )
    mailbox_id = add_mailbox(mailbox_server)
    original = email_ingest.record_messages

    def refusing(**kwargs: Any) -> Any:
        if any(p.entry.subject.endswith("refused") for p in kwargs["prepared"]):
            raise IntegrityError("INSERT", {}, Exception("constraint failed"))
        return original(**kwargs)

    monkeypatch.setattr(email_ingest, "record_messages", refusing)

    result = check_ok(mailbox_id)

    assert (result.processed, result.failed) == (1, 1)
    rows = {e.uid: e for e in ledger(mailbox_id)}
    assert rows[good_uid].status == "processed"
    assert rows[bad_uid].status == "failed"
    assert "database refused" in rows[bad_uid].reason
    assert rows[bad_uid].file_ids == []
    [stored] = stored_files()
    assert stored.original_name == "g.csv"
    assert check_ok(mailbox_id).new_messages == 0


def test_the_check_returns_before_extraction_and_queues_it(
    database: Path,
    mailbox_server: DovecotServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Extraction is off the check's path: a check whose extraction is held still returns, with
    the files pending, and they are extracted as soon as the queue runs."""
    mailbox_server.append(mail(attachments=[("q.csv", statement_csv("queued"), "text/csv")]))
    mailbox_id = add_mailbox(mailbox_server)
    release = threading.Event()
    real = extraction_queue.extract_if_pending

    def held(file_id: int) -> None:
        release.wait(30)
        real(file_id)

    monkeypatch.setattr(extraction_queue, "extract_if_pending", held)
    try:
        result = email_ingest.check_mailbox(mailbox_id)
        assert result.status == "ok" and len(result.new_files) == 1
        with db.session_scope() as session:
            record = session.get(StoredFile, result.new_files[0].file_id)
            assert record is not None and record.status == "pending"
        assert extraction_queue.pending() == 1
    finally:
        release.set()
    [record] = stored_files()
    assert (record.status, record.transaction_count) == ("extracted", 2)
