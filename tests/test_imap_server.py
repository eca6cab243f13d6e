"""Self-test of the private Dovecot fixture (tests/imap_server.py) and its message builders."""

from __future__ import annotations

import ssl
import time

import pytest
from imap_tools import AND, MailBox, MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

from tests import imap_server
from tests.imap_server import (
    PDF_MINIMAL,
    DovecotServer,
    add_rfc2047_attachment,
    dovecot,  # noqa: F401
    forward,
    mailbox_server,  # noqa: F401
    make_message,
    malformed_message,
)

CSV = b"date,amount\n2024-01-31,12.50\n"


def fetch_all(server: DovecotServer, folder: str = "INBOX") -> list:
    with MailBoxUnencrypted(server.host, server.port, timeout=5).login(
        server.user, server.password, initial_folder=folder
    ) as mailbox:
        return list(mailbox.fetch(mark_seen=False))


def test_append_and_fetch_with_imap_tools(mailbox_server: DovecotServer) -> None:  # noqa: F811
    invoice = make_message(
        sender="supplier@example.com",
        to="finance@example.com",
        subject="Invoice 42",
        body="PDF attached.",
        attachments=[("invoice-42.pdf", PDF_MINIMAL, "application/pdf")],
    )
    uid_csv = mailbox_server.append(
        make_message(
            sender="bank@example.com",
            to=["finance@example.com", "cfo@example.com"],
            subject="Statement January",
            body="See attachment.",
            attachments=[("statement.csv", CSV, "text/csv")],
        )
    )
    uid_fwd = mailbox_server.append(forward(invoice), flags=["\\Seen"])
    assert mailbox_server.uids() == [uid_csv, uid_fwd]
    assert mailbox_server.message_count() == 2
    assert mailbox_server.flags("INBOX", uid_fwd) == {"\\Seen"}
    assert mailbox_server.flags("INBOX", uid_csv) == set()

    by_uid = {int(m.uid): m for m in fetch_all(mailbox_server)}
    statement = by_uid[uid_csv]
    assert statement.subject == "Statement January"
    assert statement.to == ("finance@example.com", "cfo@example.com")
    assert [(a.filename, a.content_type, a.payload) for a in statement.attachments] == [
        ("statement.csv", "text/csv", CSV)
    ]
    forwarded = by_uid[uid_fwd]
    assert forwarded.subject == "Fwd: Invoice 42"
    # imap-tools walks into the message/rfc822 part: the wrapper (no filename) and the PDF
    found = [(a.filename, a.content_type) for a in forwarded.attachments]
    assert found == [("", "message/rfc822"), ("invoice-42.pdf", "application/pdf")]
    assert forwarded.attachments[1].payload == PDF_MINIMAL


def test_encoded_inline_and_signature_parts(mailbox_server: DovecotServer) -> None:  # noqa: F811
    name = "Übersicht_€_日本_" + "x" * 40 + ".csv"  # long: several encoded-words
    message = make_message(
        sender="a@example.com",
        to="b@example.com",
        subject="Ünïcode",
        body="Grüße",
        attachments=[(name, CSV, "text/csv")],
        inline=[("apple.pdf", PDF_MINIMAL, "application/pdf")],
        signature_image=True,
    )
    add_rfc2047_attachment(message, "Rechnung_März_€.pdf", PDF_MINIMAL, "application/pdf")
    raw = message.as_bytes()
    assert b"filename*0*=utf-8''" in raw  # RFC 2231 with continuations
    assert b'filename="=?utf-8?b?' in raw  # RFC 2047 inside quotes, written verbatim
    mailbox_server.append(message)

    [fetched] = fetch_all(mailbox_server)
    assert fetched.subject == "Ünïcode"
    assert "Grüße" in fetched.text
    parts = {(a.filename, a.content_disposition, a.content_type) for a in fetched.attachments}
    assert parts == {
        (name, "attachment", "text/csv"),
        ("apple.pdf", "inline", "application/pdf"),
        ("", "inline", "image/png"),  # signature logo: Content-ID only
        ("Rechnung_März_€.pdf", "attachment", "application/pdf"),
    }
    logo = next(a for a in fetched.attachments if a.content_type == "image/png")
    assert logo.content_id
    assert f"cid:{logo.content_id}" in fetched.html


def test_malformed_message_is_stored_and_parses(mailbox_server: DovecotServer) -> None:  # noqa: F811
    uid = mailbox_server.append(malformed_message())
    assert mailbox_server.fetch_raw("INBOX", uid).startswith(b"To: invoices@example.com")
    [fetched] = fetch_all(mailbox_server)  # must not raise
    assert fetched.from_ == ""
    assert fetched.to == ("invoices@example.com",)
    for attachment in fetched.attachments:
        assert isinstance(attachment.payload, bytes)


def test_folders_flags_users_and_clear(mailbox_server: DovecotServer) -> None:  # noqa: F811
    mailbox_server.create_folder("Invoices/2024.Q1")
    mailbox_server.create_folder('Rechnungen Ü "A&B"')
    assert mailbox_server.folders() == [
        "INBOX",
        "Invoices",
        "Invoices/2024.Q1",
        'Rechnungen Ü "A&B"',
    ]
    uid = mailbox_server.append(
        b"Subject: one\r\n\r\nbody\r\n",
        folder='Rechnungen Ü "A&B"',
        flags=["\\Flagged", "finapp-done"],
    )
    assert mailbox_server.flags('Rechnungen Ü "A&B"', uid) == {"\\Flagged", "finapp-done"}
    mailbox_server.append(b"Subject: two\r\n\r\nbody\r\n", folder="Invoices/2024.Q1")
    with MailBoxUnencrypted(mailbox_server.host, mailbox_server.port, timeout=5).login(
        mailbox_server.user, mailbox_server.password, initial_folder="Invoices/2024.Q1"
    ) as mailbox:
        assert [m.subject for m in mailbox.fetch(AND(all=True), mark_seen=False)] == ["two"]

    mailbox_server.clear()
    assert {f: mailbox_server.message_count(f) for f in mailbox_server.folders()} == {
        "INBOX": 0,
        "Invoices": 0,
        "Invoices/2024.Q1": 0,
        'Rechnungen Ü "A&B"': 0,
    }
    mailbox_server.clear(delete_folders=True)
    assert mailbox_server.folders() == ["INBOX"]


def test_imaps_verifies_with_ca_file(dovecot: DovecotServer) -> None:  # noqa: F811
    context = ssl.create_default_context(cafile=dovecot.ca_file)
    with MailBox(dovecot.host, dovecot.tls_port, ssl_context=context, timeout=5).login(
        dovecot.user, dovecot.password
    ) as mailbox:
        assert mailbox.folder.get() == "INBOX"


def test_imaps_with_system_cas_fails(dovecot: DovecotServer) -> None:  # noqa: F811
    with pytest.raises(ssl.SSLError):
        MailBox(dovecot.host, dovecot.tls_port, ssl_context=ssl.create_default_context(), timeout=5)


def test_wrong_password_fails_fast(dovecot: DovecotServer) -> None:  # noqa: F811
    for _ in range(2):  # and no growing penalty (Dovecot 2.3 answers after ~0.5 s)
        began = time.monotonic()
        with pytest.raises(MailboxLoginError):
            MailBoxUnencrypted(dovecot.host, dovecot.port, timeout=5).login(dovecot.user, "wrong")
        assert time.monotonic() - began < 2


def test_kill_and_restart_keep_mail_and_uidvalidity() -> None:
    if imap_server.find_dovecot() is None:
        pytest.skip("the `dovecot` binary is not installed")
    with DovecotServer() as server:
        server.add_user("second", "second-pass")
        uid = server.append(make_message(sender="a@x.test", to="b@x.test", subject="keep me"))
        server.append(b"Subject: other\r\n\r\nx\r\n", user="second")
        validity = server.uidvalidity()
        ports = (server.port, server.tls_port)
        assert server.start_seconds is not None
        assert server.start_seconds < 5

        server.kill()
        assert not server.is_running()
        with pytest.raises(ConnectionRefusedError):
            MailBoxUnencrypted(server.host, server.port, timeout=5)

        server.restart()
        assert (server.port, server.tls_port) == ports
        assert server.uids() == [uid]
        assert server.uidvalidity() == validity
        with MailBoxUnencrypted(server.host, server.port, timeout=5).login(
            "second", "second-pass"
        ) as mailbox:
            assert [m.subject for m in mailbox.fetch(mark_seen=False)] == ["other"]
        root = server.root
    assert root is not None
    assert not root.exists()
    assert not server.is_running()


def test_missing_binary_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(imap_server.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        imap_server._unavailable("no dovecot")
    monkeypatch.setenv(imap_server.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception):
        imap_server._unavailable("no dovecot")
