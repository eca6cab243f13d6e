"""Every table. Datetimes are timezone-aware UTC (see `finapp.db.utcnow`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date as date_type
from datetime import datetime
from typing import Any

from pydantic._internal import _fields as pydantic_fields
from sqlalchemy import JSON, BigInteger, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from finapp.db import utcnow


def _remember_default_factory_signatures() -> None:
    """Make building a row object cheap again. Pydantic (2.14) asks `inspect.signature` of a
    field's default factory on every instance SQLModel constructs, and for the builtins `list`
    and `dict` that parses a text signature: measured 0.61 ms per StoredFile (0.06 ms with this),
    which made storing a chunk of mail attachments cost more than fetching it. The answer
    depends only on the factory, so it is remembered per factory."""
    original: Callable[[Any], bool] = pydantic_fields.takes_validated_data_argument
    if getattr(original, "__wrapped__", None) is not None:
        return  # already done (module reloaded)

    @functools.wraps(original)
    def remembered(default_factory: Any) -> bool:
        try:
            return _answers(default_factory)
        except TypeError:  # an unhashable factory: ask every time, as pydantic does
            return original(default_factory)

    _answers = functools.lru_cache(maxsize=1024)(original)
    pydantic_fields.takes_validated_data_argument = remembered


_remember_default_factory_signatures()


class User(SQLModel, table=True):
    """An admin account for the UI and the API."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginSession(SQLModel, table=True):
    """A browser sign-in. The browser holds the token; only its keyed hash is stored."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    client: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A bearer token for the REST API: named personal tokens made in the UI, and short-lived
    access tokens from `POST /api/auth/token`. Only a keyed hash is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: str = Field(default="personal", max_length=16)  # personal | access
    token_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)  # first characters, so a user can tell tokens apart
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt (UI or API), kept to throttle guessing per user and per client."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    client: str = Field(max_length=128, index=True)
    succeeded: bool = Field(default=False)
    attempted_at: datetime = Field(default_factory=utcnow, index=True)


class Project(SQLModel, table=True):
    """A client or ledger that files belong to; the id is the platform's project identifier."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class StoredFile(SQLModel, table=True):
    """One file received for a project. Content lives once per sha256 in the data dir; the same
    content arriving again for the same project is recorded as a duplicate of the first row."""

    __tablename__ = "stored_file"

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=64)
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=8)  # csv | xlsx | xls | ofx | pdf | png | jpeg
    original_name: str = Field(max_length=255)  # for display only, never a path
    safe_name: str = Field(max_length=255)
    source: str = Field(max_length=16, index=True)  # upload | email | webhook
    source_ref: str = Field(default="", max_length=512)
    received_at: datetime = Field(default_factory=utcnow, index=True)
    status: str = Field(default="pending", max_length=16, index=True)
    # pending | extracted | failed | skipped
    status_detail: str = Field(default="", max_length=1000)
    duplicate_of_id: int | None = Field(
        default=None, foreign_key="stored_file.id", ondelete="SET NULL"
    )
    transaction_count: int = 0  # rows stored from this file
    already_imported_count: int = 0  # rows skipped because another file brought them first
    error_count: int = 0  # rows that could not be read
    issues: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)  # first errors
    warnings: list[str] = Field(default_factory=list, sa_type=JSON)
    balance_break: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    extracted_at: datetime | None = None


class FileContent(SQLModel, table=True):
    """The content of a small file (up to files.SMALL_CONTENT_BYTES), once per sha256. Small
    files live in the database rather than as files: creating a file costs 0.3-0.6 ms on some
    disks (measured on this project's CI machine), more than fetching the mail it came in,
    and here the content commits in the same transaction as the row that points at it. Larger
    content lives in the data dir (files/<aa>/<bb>/<sha256>)."""

    __tablename__ = "file_content"

    sha256: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_type=LargeBinary)


class Transaction(SQLModel, table=True):
    """One statement line. Money is integer minor units of `currency`, never a float."""

    __tablename__ = "bank_transaction"  # "transaction" is an SQL keyword
    __table_args__ = (
        UniqueConstraint("project_id", "dedupe_key", name="uq_transaction_project_dedupe"),
        Index("ix_transaction_file", "file_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", max_length=64)
    file_id: int = Field(foreign_key="stored_file.id", ondelete="CASCADE")
    row: int  # row number in the source file, for error reports
    account: str = Field(default="", max_length=100)
    date: date_type
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    description: str = Field(default="", max_length=500)
    category: str = Field(default="", max_length=100)
    balance_minor: int | None = Field(default=None, sa_type=BigInteger)
    # 64-bit key of (account, date, amount, normalised description, occurrence in file) or of
    # the bank's own transaction id: the same line imported twice collides here and is skipped.
    dedupe_key: int = Field(sa_type=BigInteger)


class AggregationReport(SQLModel, table=True):
    """The outcome of aggregating a project: figures, validation errors and warnings."""

    __tablename__ = "aggregation_report"

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    files_processed: int = 0
    transactions: int = 0
    is_valid: bool = True
    duration_ms: int = 0
    report: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class BatchJob(SQLModel, table=True):
    """A scheduled job. The database is the source of truth; the scheduler is rebuilt from it."""

    __tablename__ = "batch_job"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=64, unique=True, index=True)  # the public slug
    job_type: str = Field(max_length=32)
    # None for jobs that are not about one project (the email check).
    project_id: str | None = Field(
        default=None, foreign_key="project.id", max_length=64, index=True
    )
    cron: str = Field(max_length=120)
    timezone: str = Field(max_length=64)
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    timeout_seconds: int = 3600
    max_retries: int = 2
    retry_backoff_seconds: int = 60
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    # The last fire time the scheduler handled: missed runs are counted from here after a stop.
    last_scheduled_for: datetime | None = None


class JobRun(SQLModel, table=True):
    """One execution (or a recorded non-execution: skipped, missed) of a batch job."""

    __tablename__ = "job_run"
    __table_args__ = (
        UniqueConstraint("job_pk", "scheduled_for", name="uq_job_run_job_scheduled_for"),
        Index("ix_job_run_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_pk: int = Field(foreign_key="batch_job.id", index=True, ondelete="CASCADE")
    trigger: str = Field(max_length=16)  # schedule | manual | retry | catch-up
    attempt: int = 1
    scheduled_for: datetime
    status: str = Field(default="queued", max_length=16)
    # queued | running | completed | failed | missed | skipped | abandoned
    queued_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    heartbeat_at: datetime | None = None
    worker: str = Field(default="", max_length=128)  # host:pid that ran it
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    error: str = Field(default="", sa_type=Text)
    log: str = Field(default="", sa_type=Text)


class Mailbox(SQLModel, table=True):
    """An IMAP mailbox to collect attachments from. The one from the EMAIL_* environment is
    kept in sync at start (source "env", its password never stored); others are added in the
    UI with the password encrypted at rest."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    source: str = Field(default="ui", max_length=8)  # env | ui
    address: str = Field(max_length=254)  # the IMAP login
    password_encrypted: str = Field(default="", sa_type=Text)
    imap_server: str = Field(max_length=253)
    imap_port: int = 993
    security: str = Field(default="ssl", max_length=8)  # ssl | starttls | none
    ca_file: str = Field(default="", max_length=500)
    folder: str = Field(default="INBOX", max_length=200)
    sender_whitelist: str = Field(default="", sa_type=Text)  # addresses and @domains
    default_project: str = Field(default="", max_length=64)
    post_action: str = Field(default="none", max_length=8)  # none | seen | move | flag
    post_action_arg: str = Field(default="", max_length=200)  # folder or keyword
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    check_started_at: datetime | None = None  # set while a check runs: one at a time
    check_owner: str = Field(default="", max_length=128)  # host:pid of the running check
    last_check_at: datetime | None = None
    last_status: str = Field(default="never", max_length=16)  # never | connected | error
    last_error: str = Field(default="", sa_type=Text)


class ProcessedMail(SQLModel, table=True):
    """The ledger: every message seen once, by (mailbox, folder, UIDVALIDITY, UID)."""

    __tablename__ = "processed_mail"
    __table_args__ = (
        UniqueConstraint(
            "mailbox_id", "folder", "uidvalidity", "uid", name="uq_processed_mail_uid"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailbox.id", index=True, ondelete="CASCADE")
    folder: str = Field(max_length=200)
    uidvalidity: int = Field(sa_type=BigInteger)
    uid: int = Field(sa_type=BigInteger)
    message_id: str = Field(default="", max_length=998, index=True)
    sender: str = Field(default="", max_length=254)
    subject: str = Field(default="", max_length=998)
    received_at: datetime | None = None
    status: str = Field(max_length=16, index=True)  # processed | skipped | failed | unassigned
    reason: str = Field(default="", sa_type=Text)
    project_id: str | None = Field(default=None, max_length=64)
    file_ids: list[int] = Field(default_factory=list, sa_type=JSON)
    attachment_names: list[str] = Field(default_factory=list, sa_type=JSON)
    processed_at: datetime = Field(default_factory=utcnow, index=True)


class WebhookEvent(SQLModel, table=True):
    """One cloud-storage change notification as received: accepted, a duplicate of an accepted
    one, or rejected. Rejected events keep metadata and the body's sha256 only; no event ever
    stores a secret (signature and channel-token headers are kept as present/absent)."""

    __tablename__ = "webhook_event"
    __table_args__ = (
        Index("ix_webhook_event_provider_received", "provider", "received_at"),
        Index("ix_webhook_event_status", "status"),
        # Throttling counts a client's recent rejections on every request.
        Index("ix_webhook_event_client_status_received", "client", "status", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)  # dropbox | google-drive | onedrive
    event_type: str = Field(max_length=64)  # e.g. notification, sync, update, lifecycle:…
    status: str = Field(max_length=16)  # accepted | duplicate | rejected
    received_at: datetime = Field(default_factory=utcnow, index=True)
    verified: bool = False
    verification: str = Field(default="", max_length=64)  # signature ok | wrong token | …
    dedupe_key: str | None = Field(default=None, max_length=128, index=True)
    account: str = Field(default="", max_length=255)  # dropbox account | channel | subscription
    client: str = Field(default="", max_length=128)  # the sender's address
    headers: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    body: str | None = Field(default=None, sa_type=Text)
    body_sha256: str = Field(default="", max_length=64)
    error: str = Field(default="", sa_type=Text)
