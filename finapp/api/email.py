"""Email ingestion API (shapes kept from the existing platform's documented API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field
from sqlmodel import col, select

from finapp.api.deps import CurrentUser, DbSession
from finapp.models import Mailbox, ProcessedMail
from finapp.services import email_ingest, mailboxes
from finapp.services.errors import InvalidInput

router = APIRouter(prefix="/api/email", tags=["email"])


class CheckRequest(BaseModel):
    mailbox_id: int | None = None


class MailboxIn(BaseModel):
    name: str = Field(max_length=64)
    address: str = Field(max_length=254)
    password: str = Field(max_length=1000)
    imap_server: str = Field(max_length=253)
    imap_port: int | None = None
    security: str = "ssl"
    ca_file: str = ""
    folder: str = "INBOX"
    sender_whitelist: str = ""
    default_project: str = ""
    post_action: str = "none"
    post_action_arg: str = ""
    enabled: bool = True


class MailboxPatch(BaseModel):
    address: str | None = None
    password: str | None = None
    imap_server: str | None = None
    imap_port: int | None = None
    security: str | None = None
    ca_file: str | None = None
    folder: str | None = None
    sender_whitelist: str | None = None
    default_project: str | None = None
    post_action: str | None = None
    post_action_arg: str | None = None
    enabled: bool | None = None


class MailboxOut(BaseModel):
    id: int
    name: str
    source: str
    address: str
    imap_server: str
    imap_port: int
    security: str
    folder: str
    sender_whitelist: str
    default_project: str
    post_action: str
    post_action_arg: str
    enabled: bool
    last_check_at: datetime | None
    last_status: str
    last_error: str

    @classmethod
    def of(cls, m: Mailbox) -> MailboxOut:  # the password never leaves the server
        return cls(**{name: getattr(m, name) for name in cls.model_fields})


class MailOut(BaseModel):
    id: int
    mailbox_id: int
    folder: str
    uid: int
    message_id: str
    sender: str
    subject: str
    received_at: datetime | None
    status: str
    reason: str
    project_id: str | None
    file_ids: list[int]
    processed_at: datetime

    @classmethod
    def of(cls, m: ProcessedMail) -> MailOut:
        return cls(**{name: getattr(m, name) for name in cls.model_fields})


class AssignRequest(BaseModel):
    project_id: str = Field(max_length=200)


@router.post("/check")
def check(
    _user: CurrentUser, session: DbSession, body: CheckRequest | None = None
) -> list[dict[str, Any]]:
    """Check the mailbox(es) now; returns the files that arrived with new mail."""
    if body and body.mailbox_id:
        targets = [mailboxes.get_mailbox(session=session, mailbox_id=body.mailbox_id)]
    else:
        targets = mailboxes.list_mailboxes(session=session, enabled_only=True)
    if not targets:
        raise InvalidInput(
            "No mailbox configured: set EMAIL_ADDRESS and EMAIL_PASSWORD, or add one."
        )
    ids = [m.id for m in targets]
    session.commit()
    results = [email_ingest.check_mailbox(mailbox_id) for mailbox_id in ids]
    if all(r.status == "busy" for r in results):
        raise HTTPException(status.HTTP_409_CONFLICT, results[0].error)
    if all(r.status != "ok" for r in results):
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "; ".join(r.error for r in results))
    return [
        {
            "filename": f.filename,
            "saved_as": f.saved_as,
            "size": f.size,
            "project_id": f.project_id,
            "message_id": f.message_id,
            "received_at": f.received_at,
            "file_id": f.file_id,
            "duplicate": f.duplicate,
        }
        for r in results
        for f in r.new_files
    ]


@router.get("/statistics")
def statistics(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    return email_ingest.statistics(session=session)


@router.get("/status")
def email_status(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    boxes = mailboxes.list_mailboxes(session=session)
    enabled = [m for m in boxes if m.enabled]
    main = enabled[0] if enabled else None
    if main is None:
        message = "Not configured: set EMAIL_ADDRESS and EMAIL_PASSWORD, or add a mailbox."
    elif main.last_status == "error":
        message = main.last_error
    elif main.last_status == "never":
        message = "Configured; not checked yet."
    else:
        message = "Connected."
    return {
        "configured": main is not None,
        "email_address": main.address if main else None,
        "imap_server": main.imap_server if main else None,
        "watched_folder": main.folder if main else None,
        "message": message,
        "last_check": main.last_check_at.isoformat() if main and main.last_check_at else None,
        "mailboxes": [MailboxOut.of(m).model_dump(mode="json") for m in boxes],
    }


@router.get("/health")
def health(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    enabled = mailboxes.list_mailboxes(session=session, enabled_only=True)
    failing = [m.name for m in enabled if m.last_status == "error"]
    overall = "not_configured" if not enabled else ("degraded" if failing else "ok")
    return {
        "status": overall,
        "mailboxes": len(enabled),
        "failing": failing,
        "last_check": max((m.last_check_at for m in enabled if m.last_check_at), default=None),
    }


@router.get("/mailboxes", response_model=list[MailboxOut])
def list_mailboxes(_user: CurrentUser, session: DbSession) -> list[MailboxOut]:
    return [MailboxOut.of(m) for m in mailboxes.list_mailboxes(session=session)]


@router.post("/mailboxes", response_model=MailboxOut, status_code=status.HTTP_201_CREATED)
def create_mailbox(body: MailboxIn, _user: CurrentUser, session: DbSession) -> MailboxOut:
    values = body.model_dump(exclude_none=True)
    return MailboxOut.of(mailboxes.create_mailbox(session=session, **values))


@router.patch("/mailboxes/{mailbox_id}", response_model=MailboxOut)
def update_mailbox(
    mailbox_id: int, body: MailboxPatch, _user: CurrentUser, session: DbSession
) -> MailboxOut:
    changes = body.model_dump(exclude_none=True)
    return MailboxOut.of(
        mailboxes.update_mailbox(session=session, mailbox_id=mailbox_id, **changes)
    )


@router.delete("/mailboxes/{mailbox_id}")
def delete_mailbox(mailbox_id: int, _user: CurrentUser, session: DbSession) -> dict[str, Any]:
    mailboxes.delete_mailbox(session=session, mailbox_id=mailbox_id)
    return {"deleted": mailbox_id}


@router.get("/messages", response_model=list[MailOut])
def list_messages(
    _user: CurrentUser,
    session: DbSession,
    status_: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[MailOut]:
    query = select(ProcessedMail).order_by(col(ProcessedMail.id).desc()).limit(limit)
    if status_:
        query = query.where(ProcessedMail.status == status_)
    return [MailOut.of(m) for m in session.exec(query).all()]


@router.post("/messages/{ledger_id}/assign", response_model=MailOut)
def assign(ledger_id: int, body: AssignRequest, _user: CurrentUser, session: DbSession) -> MailOut:
    """Give an unassigned message a project; its attachments are fetched and stored."""
    entry = email_ingest.assign_project(ledger_id=ledger_id, project_id=body.project_id)
    return MailOut.of(entry)
