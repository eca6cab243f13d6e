"""The services on PostgreSQL: migrations, admin setup, sign-in and tokens (aware datetimes),
file and ledger batches, and the webhook receive path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from alembic import command
from finapp import db
from finapp.models import ApiToken, LoginAttempt, User, WebhookEvent
from finapp.services import api_tokens, auth, webhooks
from finapp.services.admin_setup import ensure_admin
from finapp.services.errors import InvalidCredentials, InvalidToken, RateLimited
from finapp.services.throttle import USER_FAILURE_LIMIT, retry_after_seconds
from finapp.services.webhooks import Delivery
from finapp.settings import get_settings
from tests.conftest import reload_settings
from tests.postgres import (
    migrate_fresh,
    postgres_url,  # noqa: F401 - fixture
)
from tests.webhook_samples import DROPBOX_BODY, DROPBOX_SECRET, DROPBOX_SIGNATURE

PASSWORD = "postgres sturdy passphrase"

pytestmark = pytest.mark.postgres


def test_services_work_on_postgresql(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("FINAPP_ADMIN_USERNAME", "pgadmin")
    monkeypatch.setenv("FINAPP_ADMIN_PASSWORD", PASSWORD)
    reload_settings()
    assert db.get_engine().dialect.name == "postgresql"

    migrate_fresh(postgres_url)

    with db.session_scope() as session:
        assert ensure_admin(session=session, settings=get_settings()).action == "created"

    with db.session_scope() as session:
        user = auth.authenticate(
            session=session, username="pgadmin", password=PASSWORD, client="pg"
        )
        issued, lifetime = api_tokens.issue_access_token(session=session, user=user)
        personal = api_tokens.create_token(
            session=session, user_id=user.id, name="pg", expires_in_days=1
        )
        browser = auth.start_session(session=session, user=user, client="pg")

    with db.session_scope() as session:
        # Values read back from PostgreSQL are aware and compare with utcnow().
        record = session.exec(select(ApiToken).where(ApiToken.id == issued.record.id)).one()
        assert record.expires_at.utcoffset() == timedelta(0)
        assert timedelta(seconds=lifetime - 60) < record.expires_at - db.utcnow()
        assert session.exec(select(User)).one().last_login_at.tzinfo is not None
        assert api_tokens.authenticate_token(session=session, token=issued.token).id == user.id
        assert api_tokens.authenticate_token(session=session, token=personal.token).id == user.id
        assert auth.user_for_session(session=session, token=browser).id == user.id
        api_tokens.revoke_token(session=session, user_id=user.id, token_id=personal.record.id)

    with db.session_scope() as session, pytest.raises(InvalidToken):
        api_tokens.authenticate_token(session=session, token=personal.token)

    with db.session_scope() as session:
        for _ in range(USER_FAILURE_LIMIT):
            with pytest.raises(InvalidCredentials):
                auth.authenticate(
                    session=session, username="pgadmin", password="wrong" * 4, client="pg"
                )
        assert len(session.exec(select(LoginAttempt)).all()) == USER_FAILURE_LIMIT + 1
        assert retry_after_seconds(session=session, username="pgadmin", client="pg") > 0


def test_file_and_ledger_batches_work_on_postgresql(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The multi-row INSERT ... RETURNING of file rows (ids back in order), small contents as
    bytea, and the mail ledger's batch insert and update, on PostgreSQL."""
    from finapp.models import FileContent, Mailbox, ProcessedMail, StoredFile
    from finapp.services import email_ingest, files

    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reload_settings()
    config = migrate_fresh(postgres_url)
    csv = b"date,description,amount\n2026-01-05,Coffee,-3.50\n"
    other = b"date,description,amount\n2026-01-06,Tea,-2.50\n"
    blobs = [files.receive_blob(data=d, filename=n) for n, d in [("a.csv", csv), ("b.csv", other)]]

    with db.session_scope() as session:
        mailbox = Mailbox(
            name="pg",
            address="a@example.com",
            imap_server="127.0.0.1",
            imap_port=1,
            security="none",
            password_encrypted="x",
        )
        session.add(mailbox)
        session.flush()
        entries = [
            email_ingest.PreparedMail(
                email_ingest.LedgerRow(
                    mailbox_id=mailbox.id, folder="INBOX", uidvalidity=1, uid=uid
                ),
                [files.FileToRecord(blob, "acme", "email", f"pg:{uid}") for blob in chosen],
            )
            for uid, chosen in ((1, blobs), (2, [blobs[0]]))
        ]
        recorded = email_ingest.record_messages(session=session, prepared=entries)

    (first, first_files), (_, second_files) = recorded
    assert [f.duplicate for f in first_files + second_files] == [False, False, True]
    assert second_files[0].duplicate_of_id == first_files[0].id
    assert first.file_ids == [f.id for f in first_files]
    with db.session_scope() as session:
        rows = session.exec(select(StoredFile).order_by(StoredFile.id)).all()
        assert [(r.id, r.original_name) for r in rows] == [
            (first_files[0].id, "a.csv"),
            (first_files[1].id, "b.csv"),
            (second_files[0].id, "a.csv"),
        ]
        assert len(session.exec(select(FileContent)).all()) == 2
        assert files.read_content(session=session, sha256=blobs[1].sha256) == other
        ledger = session.exec(select(ProcessedMail).order_by(ProcessedMail.uid)).all()
        assert [(e.uid, e.file_ids) for e in ledger] == [
            (1, first.file_ids),
            (2, [second_files[0].id]),
        ]
    command.downgrade(config, "base")


def test_webhook_receive_path_works_on_postgresql(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """record_deliveries runs prebuilt Core statements (throttle, dedupe, one executemany):
    a batch with a new, a redelivered and a forged notification, then a throttled client."""
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("DROPBOX_WEBHOOK_SECRET", DROPBOX_SECRET)
    reload_settings()
    config = migrate_fresh(postgres_url)

    def delivery(signature: str = DROPBOX_SIGNATURE, client: str = "pg") -> Delivery:
        return Delivery("dropbox", DROPBOX_BODY, {"X-Dropbox-Signature": signature}, client)

    with db.session_scope() as session:
        first = webhooks.record_deliveries(
            session=session, deliveries=[delivery(), delivery(), delivery("0" * 64)]
        )
    with db.session_scope() as session:
        again = webhooks.record_deliveries(session=session, deliveries=[delivery()])
        forged = [delivery("0" * 64, client="pg-bad")] * webhooks.REJECTION_LIMIT
        webhooks.record_deliveries(session=session, deliveries=forged)
    with db.session_scope() as session:
        [throttled] = webhooks.record_deliveries(
            session=session, deliveries=[delivery(client="pg-bad")]
        )
        rows = session.exec(select(WebhookEvent)).all()

    assert [type(o).__name__ for o in first] == ["Receipt", "Receipt", "Forbidden"]
    assert (first[0].accepted, first[1].duplicates, again[0].duplicates) == (1, 1, 1)
    assert isinstance(throttled, RateLimited)
    statuses = sorted(row.status for row in rows)
    assert statuses == ["accepted"] + ["duplicate"] * 2 + ["rejected"] * 31
    accepted = next(row for row in rows if row.status == "accepted")
    assert accepted.headers == {"x-dropbox-signature": webhooks.REDACTED}
    assert accepted.received_at.tzinfo is not None
    command.downgrade(config, "base")
