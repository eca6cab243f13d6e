"""The file store: every project file once, content-addressed in the data dir.

`store_file` is the one entry point for all channels (upload, email, webhook). It streams the
content to a temporary file while hashing and counting (so an oversized file is refused without
being held in memory), checks the type by extension and by content, then moves the blob to
files/<aa>/<bb>/<sha256> unless that content is already there.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import event
from sqlmodel import Session, col, delete, func, select

from finapp.models import Project, StoredFile, Transaction
from finapp.services.errors import InvalidInput, NotFound, TooLarge
from finapp.services.file_types import detect_kind, display_name, kind_from_extension, safe_filename
from finapp.settings import get_settings

logger = logging.getLogger(__name__)

SOURCES = ("upload", "email", "webhook")
NOT_EXTRACTABLE = {"png", "jpeg"}
PROJECT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHUNK = 1024 * 1024
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class StoreResult:
    file: StoredFile
    duplicate: bool  # the project already had this content; nothing will be extracted again


def ensure_project(*, session: Session, project_id: str, name: str | None = None) -> Project:
    """The project with this id, created on first use (ids come from the wider platform)."""
    project_id = (project_id or "").strip()
    if not PROJECT_ID_PATTERN.fullmatch(project_id):
        raise InvalidInput(
            "A project id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit (got {project_id[:80]!r})."
        )
    project = session.get(Project, project_id)
    if project is None:
        project = Project(id=project_id, name=(name or project_id).strip()[:200] or project_id)
        session.add(project)
        session.flush()
    return project


def list_projects(*, session: Session) -> list[Project]:
    return list(session.exec(select(Project).order_by(Project.id)).all())


def blob_path(sha256: str) -> Path:
    return get_settings().files_dir / sha256[:2] / sha256[2:4] / sha256


def store_file(
    *,
    session: Session,
    filename: str,
    project_id: str,
    source: str,
    data: bytes | None = None,
    stream: BinaryIO | None = None,
    source_ref: str = "",
) -> StoreResult:
    """Store one received file for a project; see the module docstring.

    Raises UnsupportedFile (type refused or contradicted by the content), TooLarge, InvalidInput.
    """
    if source not in SOURCES:
        raise InvalidInput(f"Unknown source {source!r}.")
    if (data is None) == (stream is None):
        raise InvalidInput("Give either data or stream.")
    original = display_name(filename)
    kind_from_extension(original)  # refuse an unaccepted type before reading a byte
    project = ensure_project(session=session, project_id=project_id)
    chunks = [data] if data is not None else _read_chunks(stream)  # type: ignore[arg-type]
    temporary, sha256, size, head = _receive(chunks)
    try:
        kind = detect_kind(original, head, whole=temporary)
        blob = blob_path(sha256)
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            temporary.replace(blob)
    finally:
        temporary.unlink(missing_ok=True)

    first = session.exec(
        select(StoredFile)
        .where(
            StoredFile.project_id == project.id,
            StoredFile.sha256 == sha256,
            col(StoredFile.duplicate_of_id).is_(None),
        )
        .order_by(col(StoredFile.id))
    ).first()
    record = StoredFile(
        project_id=project.id,
        sha256=sha256,
        size=size,
        kind=kind,
        original_name=original,
        safe_name=safe_filename(original),
        source=source,
        source_ref=source_ref[:512],
    )
    if first is not None:
        record.status = "skipped"
        record.duplicate_of_id = first.id
        record.status_detail = f"Same content as file #{first.id} ({first.original_name})."
    elif kind in NOT_EXTRACTABLE:
        record.status = "skipped"
        record.status_detail = "Images are stored but not extractable (no OCR yet)."
    session.add(record)
    session.flush()
    logger.info(
        "Stored %s file #%s for %s from %s (%d bytes%s)",
        kind,
        record.id,
        project.id,
        source,
        size,
        ", duplicate" if first else "",
    )
    return StoreResult(record, first is not None)


def _read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _receive(chunks: Iterable[bytes]) -> tuple[Path, str, int, bytes]:
    """Write chunks to a private temporary file: (path, sha256, size, first bytes)."""
    settings = get_settings()
    limit = settings.max_file_bytes
    incoming = settings.files_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / secrets.token_hex(16)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with path.open("xb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"The file is larger than the {settings.max_file_mb} MB limit "
                        "(FINAPP_MAX_FILE_MB)."
                    )
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size, head


def get_file(*, session: Session, file_id: int) -> StoredFile:
    record = session.get(StoredFile, file_id)
    if record is None:
        raise NotFound(f"No file {file_id}.")
    return record


def list_files(
    *,
    session: Session,
    project_id: str | None = None,
    source: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[StoredFile], int]:
    """A page of files, newest first, and how many match in all."""
    conditions = []
    if project_id:
        conditions.append(StoredFile.project_id == project_id)
    if source:
        conditions.append(StoredFile.source == source)
    if status:
        conditions.append(StoredFile.status == status)
    total = session.exec(select(func.count()).select_from(StoredFile).where(*conditions)).one()
    rows = session.exec(
        select(StoredFile)
        .where(*conditions)
        .order_by(col(StoredFile.received_at).desc(), col(StoredFile.id).desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, 500)))
    ).all()
    return list(rows), total


def delete_file(*, session: Session, file_id: int) -> StoredFile:
    """Delete a file, its transactions, and its blob when no other row still needs it.

    If other uploads of the same content were recorded as duplicates of this one, the oldest
    takes its place (pending extraction), so deleting the first copy loses nothing.
    """
    record = get_file(session=session, file_id=file_id)
    session.exec(delete(Transaction).where(col(Transaction.file_id) == record.id))
    duplicates = session.exec(
        select(StoredFile)
        .where(StoredFile.duplicate_of_id == record.id)
        .order_by(col(StoredFile.id))
    ).all()
    if duplicates:
        heir, *rest = duplicates
        heir.duplicate_of_id = None
        heir.status, heir.status_detail = "pending", ""
        session.add(heir)
        for other in rest:
            other.duplicate_of_id = heir.id
            other.status_detail = f"Same content as file #{heir.id} ({heir.original_name})."
            session.add(other)
    _requeue_files_sharing_rows(session, record)
    session.delete(record)
    session.flush()
    still_used = session.exec(
        select(func.count()).select_from(StoredFile).where(StoredFile.sha256 == record.sha256)
    ).one()
    if not still_used:
        _unlink_after_commit(session, blob_path(record.sha256))
    return record


def _requeue_files_sharing_rows(session: Session, deleted: StoredFile) -> None:
    """Other files of the project whose lines were skipped as "already imported" may have been
    skipped because of the file being deleted: extract them again at the next aggregation, so
    the lines they share come back under them instead of vanishing with this file."""
    sharing = session.exec(
        select(StoredFile).where(
            StoredFile.project_id == deleted.project_id,
            StoredFile.id != deleted.id,
            StoredFile.status == "extracted",
            col(StoredFile.already_imported_count) > 0,
        )
    ).all()
    for other in sharing:
        other.status = "pending"
        other.status_detail = f"Re-queued: lines it shares were deleted with file #{deleted.id}."
        session.add(other)


_PENDING_UNLINKS = "finapp_pending_unlinks"


def _unlink_after_commit(session: Session, path: Path) -> None:
    """Delete a blob only once the transaction that stopped needing it commits; a rollback
    forgets the request, so the content is there for the rows that come back."""
    pending: list[Path] | None = session.info.get(_PENDING_UNLINKS)
    if pending is None:
        pending = session.info[_PENDING_UNLINKS] = []

        def unlink_all(_session: Session) -> None:
            for blob in pending:
                blob.unlink(missing_ok=True)
            pending.clear()

        event.listen(session, "after_commit", unlink_all)
        event.listen(session, "after_rollback", lambda _session: pending.clear())
    pending.append(path)
