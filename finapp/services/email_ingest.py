"""Collect statement attachments from IMAP mailboxes, each message exactly once.

A check asks the server for the folder's UIDs, subtracts the ledger (processed_mail, keyed by
mailbox, folder, UIDVALIDITY and UID), and fetches only the rest, in bulk chunks bounded by
count and by the sizes the server reports. Each message of a chunk is read on its own
(`prepare_message`: metadata, project, attachments received into the file store, so type checks,
size limit, sanitised names apply; a message that cannot be read becomes a failed ledger row),
then the whole chunk's file rows and ledger rows commit in one transaction (`record_messages`).
If the connection drops half-way, what was committed stays and the rest is fetched next time:
nothing lost, nothing doubled. Extraction is queued (`extraction_queue`), not done inline, so a
check costs what fetching and storing cost.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import ImapToolsError, MailboxLoginError
from imap_tools.imap_utf7 import utf7_encode
from sqlalchemy import insert, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from finapp.db import session_scope, utcnow
from finapp.models import Mailbox, ProcessedMail, StoredFile
from finapp.services import extraction_queue, files, job_runs, mail_content, mailboxes
from finapp.services.errors import FinappError, InvalidInput, MailServerError, NotFound
from finapp.services.file_types import EXTENSION_KINDS
from finapp.services.imap_structure import Part, uid_set
from finapp.services.mail_content import MailContent
from finapp.settings import get_settings

logger = logging.getLogger(__name__)

FETCH_CHUNK_MESSAGES = 500
FETCH_CHUNK_BYTES = 32 * 1024 * 1024  # what one bulk FETCH may hold in memory
CONNECT_TIMEOUT = 30
CHECK_STALE_AFTER = timedelta(minutes=10)  # a claim not renewed that long: its check died
PROJECT_TOKEN = r"([A-Za-z0-9][A-Za-z0-9_.-]{0,63})"
# The existing platform's patterns, most specific first.
SUBJECT_PATTERNS = (
    re.compile(rf"\[{PROJECT_TOKEN}\]"),  # "[Q4_2024] Weekly Report", also after "Re: "
    re.compile(rf"\bProject_{PROJECT_TOKEN}", re.IGNORECASE),  # "Project_Q4_2024 Budget Update"
    re.compile(rf"\bProject\s*[:#-]?\s+{PROJECT_TOKEN}"),  # "Invoice - Project Q4_2024"
)
# Bracketed tags mail systems add, and words that follow "Project" in prose: not project ids.
NOT_PROJECTS = {"external", "ext", "spam", "fwd", "fw", "re", "secure", "encrypt", "warning"}
BODY_PATTERN = re.compile(rf"^\s*Project\s*:\s*{PROJECT_TOKEN}", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class NewFile:
    filename: str
    saved_as: str
    size: int
    project_id: str
    message_id: str
    received_at: str
    file_id: int
    duplicate: bool


@dataclass
class CheckResult:
    mailbox: str
    status: str = "ok"  # ok | error | busy
    error: str = ""
    new_messages: int = 0
    processed: int = 0
    skipped: int = 0
    failed: int = 0
    unassigned: int = 0
    new_files: list[NewFile] = field(default_factory=list)


def detect_project(subject: str, body: str) -> str | None:
    """The project id named in a subject or body, per the platform's four conventions."""
    for pattern in SUBJECT_PATTERNS:
        for match in pattern.finditer(subject or ""):
            candidate = match.group(1).rstrip(".-")
            if _looks_like_project_id(candidate):
                return candidate
    match = BODY_PATTERN.search(body or "")
    return match.group(1).rstrip(".-") if match else None


def _looks_like_project_id(token: str) -> bool:
    """'Q4_2024', 'ACME', 'acme-2026' yes; 'here', 'update', '[EXTERNAL]' no: an id has a digit,
    an underscore or is written in capitals, and is not a tag mail systems add."""
    if token.lower() in NOT_PROJECTS:
        return False
    return any(c.isdigit() or c == "_" for c in token) or token.isupper()


def sender_allowed(sender: str, whitelist: str) -> bool:
    entries = mailboxes.whitelist_entries(whitelist)
    if not entries:
        return True
    sender = (sender or "").strip().lower()
    domain = sender.rpartition("@")[2]
    return any(sender == e or (e.startswith("@") and domain == e[1:]) for e in entries)


@contextmanager
def connect(mailbox: Mailbox) -> Iterator[BaseMailBox]:
    """A logged-in connection that verifies TLS certificates and never waits forever."""
    password = mailboxes.password_for(mailbox, get_settings())
    if mailbox.security == "ssl":
        client: BaseMailBox = MailBox(
            mailbox.imap_server,
            mailbox.imap_port,
            timeout=CONNECT_TIMEOUT,
            ssl_context=_tls_context(mailbox),
        )
    elif mailbox.security == "starttls":
        client = MailBoxStartTls(
            mailbox.imap_server,
            mailbox.imap_port,
            timeout=CONNECT_TIMEOUT,
            ssl_context=_tls_context(mailbox),
        )
    else:
        if not mailboxes.is_loopback(mailbox.imap_server):
            raise InvalidInput("Unencrypted IMAP is only allowed to localhost.")
        client = MailBoxUnencrypted(mailbox.imap_server, mailbox.imap_port, timeout=CONNECT_TIMEOUT)
    with client.login(mailbox.address, password, initial_folder=None) as logged_in:
        yield logged_in


def _tls_context(mailbox: Mailbox) -> ssl.SSLContext:
    """Certificates verified (imap-tools would not without a context). Built only for TLS:
    loading the system's CA store costs ~20 ms."""
    return ssl.create_default_context(cafile=mailbox.ca_file or None)


def describe_error(exc: BaseException) -> str:
    """A sentence an admin can act on, for each way a check can fail."""
    if isinstance(exc, MailboxLoginError):
        return (
            "Login failed: the server refused the address or password (for Gmail and "
            "Outlook use an app password)."
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate not trusted: {exc.verify_message or exc}. Set the CA file if "
            "the server uses a private certificate."
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc}."
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused: nothing listens on that host and port."
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return f"Timed out after {CONNECT_TIMEOUT} s waiting for the server."
    if isinstance(exc, socket.gaierror):
        return "Unknown host: the IMAP server name does not resolve."
    if isinstance(exc, imaplib.IMAP4.abort | ConnectionResetError | BrokenPipeError):
        return (
            "The connection was lost during the check; the next check continues where it stopped."
        )
    return f"{type(exc).__name__}: {exc}"


@dataclass
class LedgerRow:
    """A processed_mail row before it is written (a plain object: building an ORM row per
    message cost as much as fetching the message)."""

    mailbox_id: int
    folder: str
    uidvalidity: int
    uid: int
    status: str = "failed"
    reason: str = ""
    message_id: str = ""
    sender: str = ""
    subject: str = ""
    received_at: datetime | None = None
    project_id: str | None = None
    file_ids: list[int] = field(default_factory=list)
    attachment_names: list[str] = field(default_factory=list)
    processed_at: datetime = field(default_factory=utcnow)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _LEDGER_COLUMNS}


_LEDGER_COLUMNS = tuple(LedgerRow.__dataclass_fields__)


@dataclass
class PreparedMail:
    """One fetched message read, its attachments in the file store, nothing recorded yet."""

    entry: LedgerRow
    files: list[files.FileToRecord] = field(default_factory=list)


def check_mailbox(mailbox_id: int) -> CheckResult:
    """Fetch and process every message of the mailbox's folder not in the ledger yet."""
    with session_scope() as session:
        mailbox = mailboxes.get_mailbox(session=session, mailbox_id=mailbox_id)
        snapshot = Mailbox.model_validate(mailbox.model_dump())
    result = CheckResult(mailbox=snapshot.name)
    if not _claim(mailbox_id):
        result.status, result.error = "busy", "A check of this mailbox is already running."
        return result
    try:
        with connect(snapshot) as client:
            _check_folder(client, snapshot, result)
    except (ImapToolsError, imaplib.IMAP4.error, OSError, FinappError) as exc:
        result.status, result.error = "error", describe_error(exc)
        logger.warning("Check of mailbox %s failed: %s", snapshot.name, exc)
    finally:
        _release(mailbox_id, result)
        _queue_extraction(result)  # what was committed before an error, too
    return result


def _check_folder(client: BaseMailBox, mailbox: Mailbox, result: CheckResult) -> None:
    client.folder.set(mailbox.folder)
    uidvalidity = int(client.folder.status(mailbox.folder, ["UIDVALIDITY"])["UIDVALIDITY"])
    on_server = {int(uid) for uid in client.uids("ALL")}
    with session_scope() as session:
        known = set(
            session.exec(
                select(ProcessedMail.uid).where(
                    ProcessedMail.mailbox_id == mailbox.id,
                    ProcessedMail.folder == mailbox.folder,
                    ProcessedMail.uidvalidity == uidvalidity,
                )
            ).all()
        )
    new = sorted(on_server - known)
    result.new_messages = len(new)
    for chunk in fetch_chunks(message_sizes(client, new)):
        _check_chunk(client, mailbox, uidvalidity, chunk, result)
        _renew_claim(mailbox.id)  # type: ignore[arg-type]


def _check_chunk(
    client: BaseMailBox,
    mailbox: Mailbox,
    uidvalidity: int,
    chunk: list[int],
    result: CheckResult,
) -> None:
    prepared = [
        prepare_message(
            mailbox=mailbox,
            folder=mailbox.folder,
            uidvalidity=uidvalidity,
            message=content,
        )
        for content in mail_content.fetch_chunk(client, chunk, _decider(mailbox), _too_large)
    ]
    recorded = _record_chunk(prepared)
    for entry, stored in recorded:
        _count(result, entry, stored)
    done = [str(entry.uid) for entry, _ in recorded if entry.status == "processed"]
    _after_processing(client, mailbox, done)


def message_sizes(client: BaseMailBox, uids: list[int]) -> list[tuple[int, int]]:
    """(uid, RFC822.SIZE) of these messages, in UID order, from one FETCH: the sizes let the
    check bound what one bulk fetch holds in memory before it asks for any message."""
    if not uids:
        return []
    status, data = client.client.uid("FETCH", uid_set(uids), "(RFC822.SIZE)")
    _ok((status, data), "FETCH RFC822.SIZE")
    sizes: dict[int, int] = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if not isinstance(line, bytes):
            continue
        uid, size = _UID_ITEM.search(line), _SIZE_ITEM.search(line)
        if uid:
            sizes[int(uid.group(1))] = int(size.group(1)) if size else 0
    # A message expunged since the search is simply not fetched.
    return [(uid, sizes[uid]) for uid in uids if uid in sizes]


_UID_ITEM = re.compile(rb"\bUID (\d+)")
_SIZE_ITEM = re.compile(rb"\bRFC822\.SIZE (\d+)")


def fetch_chunks(sizes: list[tuple[int, int]]) -> Iterator[list[int]]:
    """UIDs in groups of at most FETCH_CHUNK_MESSAGES and FETCH_CHUNK_BYTES (a bigger message
    travels alone)."""
    chunk: list[int] = []
    held = 0
    for uid, size in sizes:
        if chunk and (len(chunk) >= FETCH_CHUNK_MESSAGES or held + size > FETCH_CHUNK_BYTES):
            yield chunk
            chunk, held = [], 0
        chunk.append(uid)
        held += size
    if chunk:
        yield chunk


def prepare_message(
    *,
    mailbox: Mailbox,
    folder: str,
    uidvalidity: int,
    message: MailMessage | MailContent,
    project_override: str | None = None,
) -> PreparedMail:
    """Read one message: its ledger row (not saved) and its attachments received into the file
    store (small content is held for `record_messages`). Needs no database. A message
    that cannot be read is a failed row with the reason."""
    content = message if isinstance(message, MailContent) else mail_content.of_message(message)
    entry = LedgerRow(
        mailbox_id=mailbox.id,  # type: ignore[arg-type]
        folder=folder,
        uidvalidity=uidvalidity,
        uid=content.uid,
    )
    try:
        return _read(entry, mailbox, content, project_override)
    except Exception as exc:  # malformed MIME and the like: record it, carry on
        logger.warning("Message uid %s in %s failed: %s", content.uid, mailbox.name, exc)
        entry.status = "failed"
        entry.reason = f"Could not read the message: {type(exc).__name__}: {exc}"[:2000]
        entry.processed_at = utcnow()
        return PreparedMail(entry)


def _read(
    entry: LedgerRow,
    mailbox: Mailbox,
    content: MailContent,
    project_override: str | None,
) -> PreparedMail:
    prepared = PreparedMail(entry)
    message = content.headers
    entry.message_id = _message_id(message)
    entry.sender = (message.from_ or "")[:254]
    entry.subject = (message.subject or "")[:998]
    received = message.date if message.date and message.date.year > 1900 else None
    if received is not None and received.tzinfo is None:
        received = received.replace(tzinfo=UTC)  # a Date header without a zone: read it as UTC
    entry.received_at = received
    entry.processed_at = utcnow()
    if not sender_allowed(entry.sender, mailbox.sender_whitelist):
        entry.status, entry.reason = "skipped", f"Sender {entry.sender} is not on the whitelist."
        return prepared
    named = content.attachments  # the parts with a file name: signature images have none
    entry.attachment_names = [a.filename[:255] for a in named][:50]
    wanted = [a for a in named if _accepted(a.filename)]
    ignored = [a.filename for a in named if not _accepted(a.filename)]
    if not wanted:
        entry.status = "skipped"
        entry.reason = (
            "No statement attachments"
            + (f" (ignored: {', '.join(ignored)})" if ignored else "")
            + "."
        )
        return prepared
    project = (
        project_override
        or detect_project(entry.subject, "")
        or detect_project("", content.body())  # the body only if needed
        or mailbox.default_project
    )
    if not project or not files.PROJECT_ID_PATTERN.fullmatch(project):
        entry.status = "unassigned"
        entry.reason = "No project id in the subject or body, and no default project."
        return prepared
    notes: list[str] = []
    source_ref = f"{mailbox.name}:{entry.message_id or content.uid}"[:512]
    for attachment in wanted:
        if attachment.refusal:
            notes.append(attachment.refusal)
            continue
        try:
            blob = files.receive_blob(data=attachment.payload(), filename=attachment.filename)
        except InvalidInput as exc:
            notes.append(str(exc))
            continue
        prepared.files.append(files.FileToRecord(blob, project, "email", source_ref))
    if ignored:
        notes.append(f"Ignored (not a statement type): {', '.join(ignored)}.")
    entry.project_id = project
    entry.status = "processed" if prepared.files else "failed"
    entry.reason = " ".join(notes)[:4000]
    return prepared


Recorded = list[tuple[LedgerRow, list[files.RecordedFile]]]


def record_messages(
    *, session: Session, prepared: list[PreparedMail], ledger_id: int | None = None
) -> Recorded:
    """The file rows and ledger rows of prepared messages, in the caller's transaction, so a
    message's files and its ledger row commit together. `ledger_id`: the one message updates
    that existing row (an unassigned message given a project)."""
    stored = iter(files.record_files(session=session, items=[f for p in prepared for f in p.files]))
    recorded: Recorded = []
    for item in prepared:
        results = [next(stored) for _ in item.files]
        item.entry.file_ids = [r.id for r in results]
        recorded.append((item.entry, results))
    table = ProcessedMail.__table__  # type: ignore[attr-defined]
    if ledger_id is not None:
        [(entry, _)] = recorded
        changed = session.execute(
            update(table).where(table.c.id == ledger_id).values(entry.values())
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFound(f"No processed mail {ledger_id}.")
    elif recorded:
        session.execute(insert(table), [entry.values() for entry, _ in recorded])
    return recorded


def _record_chunk(prepared: list[PreparedMail]) -> Recorded:
    """One transaction for the chunk; if it fails, each message alone, so one message the
    database refuses becomes a failed row instead of taking its chunk with it."""
    try:
        with session_scope() as session:
            return record_messages(session=session, prepared=prepared)
    except SQLAlchemyError:
        if len(prepared) == 1:
            return [(_record_failure(prepared[0].entry), [])]
        logger.exception("Recording a chunk of %d messages failed; one by one", len(prepared))
        return [pair for item in prepared for pair in _record_chunk([item])]


def _record_failure(entry: LedgerRow) -> LedgerRow:
    logger.exception("Could not record message uid %s", entry.uid)
    failed = replace(
        entry,
        status="failed",
        reason="The database refused this message's rows; see the server log.",
        project_id=None,
        file_ids=[],
    )
    with session_scope() as session:
        session.execute(insert(ProcessedMail.__table__), [failed.values()])  # type: ignore[attr-defined]
    return failed


def _decider(mailbox: Mailbox) -> mail_content.Decide:
    """What a message needs fetched, by the same rules `_read` applies afterwards: nothing from
    a sender off the whitelist; the statement attachments; the body only when the subject
    names no project."""

    def decide(headers: MailMessage, parts: list[Part]) -> mail_content.Wanted:
        if not sender_allowed((headers.from_ or "")[:254], mailbox.sender_whitelist):
            return mail_content.Wanted()
        wanted = [p for p in parts if p.filename and _accepted(p.filename)]
        needs_body = bool(wanted) and detect_project((headers.subject or "")[:998], "") is None
        return mail_content.Wanted(wanted, needs_body)

    return decide


def _too_large(part: Part) -> str:
    """Refuse a part without fetching it when even its smallest possible decoded size is over
    the limit (base64 is 3 bytes per 4, less line breaks; quoted-printable at most 3:1)."""
    settings = get_settings()
    smallest = {"base64": part.size * 72 // 100, "quoted-printable": part.size // 3}.get(
        part.encoding, part.size
    )
    return files.too_large_message(settings) if smallest > settings.max_file_bytes else ""


def _accepted(filename: str) -> bool:
    return any(filename.lower().endswith(ext) for ext in EXTENSION_KINDS)


def _message_id(message: MailMessage) -> str:
    """The raw Message-ID header (cheaper than imap-tools' decoding of every header); bytes
    that are not UTF-8 become U+FFFD so the ledger row can always be written."""
    raw = str(message.obj.get("Message-ID") or "")
    return raw.encode("utf-8", "replace").decode("utf-8").strip()[:998]


def _count(result: CheckResult, entry: LedgerRow, stored: list[files.RecordedFile]) -> None:
    setattr(result, entry.status, getattr(result, entry.status) + 1)
    received = entry.received_at.isoformat() if entry.received_at else ""
    for record in stored:
        result.new_files.append(
            NewFile(
                filename=record.original_name,
                saved_as=record.safe_name,
                size=record.size,
                project_id=record.project_id,
                message_id=entry.message_id,
                received_at=received,
                file_id=record.id,
                duplicate=record.duplicate,
            )
        )


def _after_processing(client: BaseMailBox, mailbox: Mailbox, uids: list[str]) -> None:
    if not uids or mailbox.post_action == "none":
        return
    try:
        if mailbox.post_action == "seen":
            client.flag(uids, "\\Seen", True)
        elif mailbox.post_action == "flag":
            client.flag(uids, mailbox.post_action_arg, True)
        elif mailbox.post_action == "move":
            _move(client, uids, mailbox.post_action_arg)
    except (ImapToolsError, imaplib.IMAP4.error) as exc:
        # The messages are in the ledger already, so they will not be fetched again anyway.
        logger.warning("After-processing action on %s failed: %s", mailbox.name, exc)


def _move(client: BaseMailBox, uids: list[str], folder: str) -> None:
    """Move exactly these messages. imap-tools' move() trusts the capabilities from before
    login and falls back to a plain EXPUNGE, which also removes every other message someone
    flagged \\Deleted; here: MOVE when the server has it, else COPY + \\Deleted + UID EXPUNGE of
    these UIDs only (UIDPLUS), else leave them flagged for the owner's client to expunge."""
    imap = client.client
    _, data = imap.capability()
    capabilities = set(data[0].decode().upper().split()) if data and data[0] else set()
    target = '"' + utf7_encode(folder).decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
    uid_set = ",".join(uids)
    if "MOVE" in capabilities:
        _ok(imap.uid("MOVE", uid_set, target), "MOVE")
        return
    _ok(imap.uid("COPY", uid_set, target), "COPY")
    _ok(imap.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)"), "STORE")
    if "UIDPLUS" in capabilities:
        _ok(imap.uid("EXPUNGE", uid_set), "UID EXPUNGE")


def _ok(response: tuple[str, Any], what: str) -> None:
    status, data = response
    if status != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {data!r}")


def _claim(mailbox_id: int) -> bool:
    """Take the mailbox for one check. A claim is free when none is held, when its holder's
    process on this host has ended (a crash or a kill mid-check), or when it was not renewed
    for CHECK_STALE_AFTER (a holder on another host that died: each chunk renews it)."""
    now = utcnow()
    with session_scope() as session:
        holder = session.exec(
            select(Mailbox.check_owner).where(
                col(Mailbox.id) == mailbox_id, col(Mailbox.check_started_at).is_not(None)
            )
        ).first()
        free = [
            col(Mailbox.check_started_at).is_(None),
            col(Mailbox.check_started_at) < now - CHECK_STALE_AFTER,
        ]
        if holder and job_runs.process_gone(holder):
            free.append(col(Mailbox.check_owner) == holder)  # taken over only from that one
        claimed = session.execute(
            update(Mailbox)
            .where(col(Mailbox.id) == mailbox_id, or_(*free))
            .values(check_started_at=now, check_owner=job_runs.WORKER)
        )
        return claimed.rowcount == 1  # type: ignore[attr-defined]


def _renew_claim(mailbox_id: int) -> None:
    with session_scope() as session:
        session.execute(
            update(Mailbox)
            .where(col(Mailbox.id) == mailbox_id, col(Mailbox.check_owner) == job_runs.WORKER)
            .values(check_started_at=utcnow())
        )


def _release(mailbox_id: int, result: CheckResult) -> None:
    with session_scope() as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            return
        mailbox.check_started_at = None
        mailbox.check_owner = ""
        mailbox.last_check_at = utcnow()
        mailbox.last_status = "connected" if result.status == "ok" else "error"
        mailbox.last_error = result.error
        session.add(mailbox)


def _queue_extraction(result: CheckResult) -> None:
    """Stored files go straight into extraction, on the extraction queue's thread."""
    extraction_queue.submit(new.file_id for new in result.new_files if not new.duplicate)


def check_all() -> list[CheckResult]:
    with session_scope() as session:
        ids = [m.id for m in mailboxes.list_mailboxes(session=session, enabled_only=True)]
    return [check_mailbox(mailbox_id) for mailbox_id in ids]


def assign_project(*, ledger_id: int, project_id: str) -> ProcessedMail:
    """Give an unassigned message a project: fetch it again by UID and store its files."""
    with session_scope() as session:
        entry = session.get(ProcessedMail, ledger_id)
        if entry is None:
            raise NotFound(f"No processed mail {ledger_id}.")
        if entry.status != "unassigned":
            raise InvalidInput("Only unassigned mail can be given a project.")
        files.ensure_project(session=session, project_id=project_id)
        mailbox = Mailbox.model_validate(
            mailboxes.get_mailbox(session=session, mailbox_id=entry.mailbox_id).model_dump()
        )
        folder, uid, uidvalidity = entry.folder, entry.uid, entry.uidvalidity
    try:
        return _assign(mailbox, folder, uid, uidvalidity, ledger_id, project_id)
    except (ImapToolsError, imaplib.IMAP4.error, OSError) as exc:
        raise MailServerError(describe_error(exc)) from exc


def _assign(
    mailbox: Mailbox, folder: str, uid: int, uidvalidity: int, ledger_id: int, project_id: str
) -> ProcessedMail:
    with connect(mailbox) as client:
        client.folder.set(folder)
        current = int(client.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])
        if current != uidvalidity:
            raise InvalidInput("The folder was recreated on the server; the message is gone.")
        messages = list(client.fetch(uid_list=[str(uid)], mark_seen=False))
        if not messages:
            raise NotFound("The message is no longer on the server.")
        prepared = prepare_message(
            mailbox=mailbox,
            folder=folder,
            uidvalidity=uidvalidity,
            message=messages[0],
            project_override=project_id,
        )
        with session_scope() as session:
            [(entry, stored)] = record_messages(
                session=session, prepared=[prepared], ledger_id=ledger_id
            )
            row = session.get(ProcessedMail, ledger_id)
        if entry.status == "processed":
            _after_processing(client, mailbox, [str(uid)])
    result = CheckResult(mailbox=mailbox.name)
    _count(result, entry, stored)
    _queue_extraction(result)
    assert row is not None
    return row


def statistics(*, session: Session) -> dict[str, Any]:
    by_status = dict(
        session.exec(
            select(ProcessedMail.status, func.count()).group_by(ProcessedMail.status)
        ).all()
    )
    reasons: dict[str, dict[str, int]] = {"skipped": {}, "failed": {}}
    for status, reason, count in session.exec(
        select(ProcessedMail.status, ProcessedMail.reason, func.count())
        .where(col(ProcessedMail.status).in_(["skipped", "failed"]))
        .group_by(ProcessedMail.status, ProcessedMail.reason)
    ).all():
        reasons[status][_reason_kind(reason)] = reasons[status].get(_reason_kind(reason), 0) + count
    files_downloaded = session.exec(
        select(func.count()).select_from(StoredFile).where(StoredFile.source == "email")
    ).one()
    last = session.exec(select(func.max(Mailbox.last_check_at))).one()
    return {
        "emails_processed": by_status.get("processed", 0),
        "emails_seen": sum(by_status.values()),
        "files_downloaded": files_downloaded,
        "skipped": by_status.get("skipped", 0),
        "failed": by_status.get("failed", 0),
        "unassigned": by_status.get("unassigned", 0),
        "skipped_by_reason": reasons["skipped"],
        "failed_by_reason": reasons["failed"],
        "last_check": last.isoformat() if last else None,
    }


def _reason_kind(reason: str) -> str:
    """Group reasons that differ only in names ("Sender x is not…" -> "sender not whitelisted")."""
    lowered = reason.lower()
    for needle, kind in (
        ("whitelist", "sender not whitelisted"),
        ("no statement attachments", "no statement attachments"),
        ("limit", "file too large"),
        ("named like", "content does not match the file type"),
        ("could not read the message", "malformed message"),
        ("is empty", "empty attachment"),
    ):
        if needle in lowered:
            return kind
    return reason[:80] or "other"


def recent_downloads(*, session: Session, limit: int = 20) -> list[dict[str, Any]]:
    """Files that arrived by email, newest first, with the message they came in."""
    entries = session.exec(
        select(ProcessedMail)
        .where(ProcessedMail.status == "processed")
        .order_by(col(ProcessedMail.id).desc())
        .limit(limit)
    ).all()
    ids = [i for e in entries for i in e.file_ids]
    records = {
        r.id: r for r in session.exec(select(StoredFile).where(col(StoredFile.id).in_(ids))).all()
    }
    rows = []
    for entry in entries:
        for file_id in entry.file_ids:
            record = records.get(file_id)
            if record is None:
                continue  # deleted since
            rows.append(
                {
                    "file_id": record.id,
                    "file": record.original_name,
                    "project_id": record.project_id,
                    "status": record.status,
                    "sender": entry.sender,
                    "subject": entry.subject,
                    "received_at": entry.received_at,
                }
            )
    return rows[:limit]


def messages_with_status(
    *, session: Session, statuses: list[str], limit: int = 50
) -> list[ProcessedMail]:
    return list(
        session.exec(
            select(ProcessedMail)
            .where(col(ProcessedMail.status).in_(statuses))
            .order_by(col(ProcessedMail.id).desc())
            .limit(limit)
        ).all()
    )
