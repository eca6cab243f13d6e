"""The file store: every project file once, content-addressed in the data dir.

Every channel (upload, email, webhook) goes through the same two steps: `receive_blob` streams
the content to a temporary file while hashing and counting (so an oversized file is refused
without being held in memory), checks the type by extension and by content, then moves the blob
to files/<aa>/<bb>/<sha256> unless that content is already there; `record_files` adds the rows
(content a project already has becomes a duplicate). `store_file` is both for one file; the
mail check receives a whole fetched chunk and records it in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import event, insert
from sqlmodel import Session, col, delete, func, select

from finapp.db import utcnow
from finapp.models import FileContent, Project, StoredFile, Transaction
from finapp.services.errors import InvalidInput, NotFound, TooLarge
from finapp.services.file_types import detect_kind, display_name, kind_from_extension, safe_filename
from finapp.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SOURCES = ("upload", "email", "webhook")
NOT_EXTRACTABLE = {"png", "jpeg"}
PROJECT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHUNK = 1024 * 1024
SNIFF_BYTES = 8192
# Content up to this size is stored in the database (see models.FileContent), larger on disk.
SMALL_CONTENT_BYTES = 256 * 1024
_HASHES_PER_QUERY = 500  # well under SQLite's parameter limit


@dataclass(frozen=True)
class StoreResult:
    file: StoredFile
    duplicate: bool  # the project already had this content; nothing will be extracted again


@dataclass(frozen=True)
class ReceivedBlob:
    """A received file, checked, not yet recorded anywhere. Small content is held here and
    written with the rows (`record_files`); larger content is already at its address on disk."""

    original_name: str
    safe_name: str
    kind: str
    sha256: str
    size: int
    data: bytes | None = None  # small content, for the database


@dataclass(frozen=True)
class FileToRecord:
    blob: ReceivedBlob
    project_id: str
    source: str
    source_ref: str = ""


@dataclass(frozen=True)
class RecordedFile:
    """A row `record_files` just added: what a channel reports back about it."""

    id: int
    project_id: str
    original_name: str
    safe_name: str
    size: int
    status: str
    duplicate_of_id: int | None

    @property
    def duplicate(self) -> bool:
        return self.duplicate_of_id is not None


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
    _check_source(source)
    ensure_project(session=session, project_id=project_id)  # a bad id fails before any byte
    blob = receive_blob(filename=filename, data=data, stream=stream)
    [recorded] = record_files(
        session=session, items=[FileToRecord(blob, project_id.strip(), source, source_ref)]
    )
    record = session.get(StoredFile, recorded.id)
    assert record is not None  # inserted by this very session
    logger.info(
        "Stored %s file #%s for %s from %s (%d bytes%s)",
        record.kind,
        record.id,
        record.project_id,
        source,
        record.size,
        ", duplicate" if recorded.duplicate else "",
    )
    return StoreResult(record, recorded.duplicate)


def receive_blob(
    *, filename: str, data: bytes | None = None, stream: BinaryIO | None = None
) -> ReceivedBlob:
    """Check a file's type by name, take its content (refusing it past the size limit without
    holding it all), check the content matches the name. Content up to SMALL_CONTENT_BYTES is
    kept for `record_files` to store with the rows; larger content goes to its address in the
    data dir now. Needs no database: a channel can receive many files first and record them
    in one transaction."""
    if (data is None) == (stream is None):
        raise InvalidInput("Give either data or stream.")
    original = display_name(filename)
    kind_from_extension(original)  # refuse an unaccepted type before reading a byte
    if data is not None and len(data) <= SMALL_CONTENT_BYTES:
        return _receive_small(original, data)  # a mail attachment: no temporary file
    chunks = [data] if data is not None else _read_chunks(stream)  # type: ignore[arg-type]
    temporary, sha256, size, head = _receive(chunks)
    try:
        kind = detect_kind(original, head, whole=temporary)
        if size <= SMALL_CONTENT_BYTES:
            return ReceivedBlob(
                original, safe_filename(original), kind, sha256, size, temporary.read_bytes()
            )
        blob = blob_path(sha256)
        if not blob.exists():
            blob.parent.mkdir(parents=True, exist_ok=True)
            temporary.replace(blob)
    finally:
        temporary.unlink(missing_ok=True)
    return ReceivedBlob(original, safe_filename(original), kind, sha256, size)


def _receive_small(original: str, data: bytes) -> ReceivedBlob:
    """Small content already in memory, checked there, held for the database."""
    settings = get_settings()
    if len(data) > settings.max_file_bytes:
        raise TooLarge(too_large_message(settings))
    kind = detect_kind(original, data[:SNIFF_BYTES], whole=data)
    sha256 = hashlib.sha256(data).hexdigest()
    return ReceivedBlob(original, safe_filename(original), kind, sha256, len(data), data)


def too_large_message(settings: Settings) -> str:
    return f"The file is larger than the {settings.max_file_mb} MB limit (FINAPP_MAX_FILE_MB)."


def stored_content(*, session: Session, sha256: str) -> bytes | Path:
    """Where a stored file's content is: the bytes themselves (small content, in the database)
    or the path of its blob (large content, or content stored before small content moved into
    the database)."""
    data = session.exec(select(FileContent.data).where(FileContent.sha256 == sha256)).first()
    return data if data is not None else blob_path(sha256)


def read_content(*, session: Session, sha256: str) -> bytes:
    content = stored_content(session=session, sha256=sha256)
    return content if isinstance(content, bytes) else content.read_bytes()


def record_files(*, session: Session, items: Sequence[FileToRecord]) -> list[RecordedFile]:
    """One row per received blob, in order. Content a project already has (from before, or
    earlier in `items`) becomes a duplicate of its first row; images are stored but skipped;
    the rest wait for extraction. One lookup per project and two multi-row INSERTs whatever
    the count, so a channel recording hundreds of files pays per batch, not per file (building
    an ORM object per row cost more than fetching the mail it came in)."""
    for source in {item.source for item in items}:
        _check_source(source)
    for project_id in {item.project_id for item in items}:
        ensure_project(session=session, project_id=project_id)
    firsts = _first_copies(session, items)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    first_in_batch: list[int | None] = []  # per row: index of the batch row it duplicates
    batch_firsts: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        blob = item.blob
        key = (item.project_id, blob.sha256)
        row = {
            "project_id": item.project_id,
            "sha256": blob.sha256,
            "size": blob.size,
            "kind": blob.kind,
            "original_name": blob.original_name,
            "safe_name": blob.safe_name,
            "source": item.source,
            "source_ref": item.source_ref[:512],
            "received_at": now,
            "status": "pending",
            "status_detail": "",
            "duplicate_of_id": None,
        }
        earlier = firsts.get(key)
        if earlier is not None:
            _mark_duplicate(row, *earlier)
            first_in_batch.append(None)
        elif key in batch_firsts:
            first_in_batch.append(batch_firsts[key])  # its id is known once that row is in
        else:
            batch_firsts[key] = index
            first_in_batch.append(None)
            if blob.kind in NOT_EXTRACTABLE:
                row["status"] = "skipped"
                row["status_detail"] = "Images are stored but not extractable (no OCR yet)."
        rows.append(row)
    _store_contents(session, [item.blob for item in items])
    ids = [0] * len(rows)
    originals = [i for i, of in enumerate(first_in_batch) if of is None]
    _insert(session, rows, originals, ids)
    repeats = [i for i, of in enumerate(first_in_batch) if of is not None]
    for index in repeats:
        of = first_in_batch[index]
        assert of is not None
        _mark_duplicate(rows[index], ids[of], rows[of]["original_name"])
    _insert(session, rows, repeats, ids)
    return [
        RecordedFile(
            id=new_id,
            project_id=row["project_id"],
            original_name=row["original_name"],
            safe_name=row["safe_name"],
            size=row["size"],
            status=row["status"],
            duplicate_of_id=row["duplicate_of_id"],
        )
        for new_id, row in zip(ids, rows, strict=True)
    ]


def _store_contents(session: Session, blobs: Sequence[ReceivedBlob]) -> None:
    """Small contents into file_content, each once; content already there is left alone (the
    same hash is the same bytes)."""
    fresh = {b.sha256: b.data for b in blobs if b.data is not None}
    if not fresh:
        return
    known: set[str] = set()
    hashes = sorted(fresh)
    for start in range(0, len(hashes), _HASHES_PER_QUERY):
        known.update(
            session.exec(
                select(FileContent.sha256).where(
                    col(FileContent.sha256).in_(hashes[start : start + _HASHES_PER_QUERY])
                )
            ).all()
        )
    rows = [{"sha256": h, "data": d} for h, d in fresh.items() if h not in known]
    if rows:
        session.execute(insert(FileContent.__table__), rows)  # type: ignore[attr-defined]


def _mark_duplicate(row: dict[str, Any], first_id: int, first_name: str) -> None:
    row["status"] = "skipped"
    row["duplicate_of_id"] = first_id
    row["status_detail"] = f"Same content as file #{first_id} ({first_name})."


def _insert(session: Session, rows: list[dict[str, Any]], which: list[int], ids: list[int]) -> None:
    """INSERT rows[i] for i in `which` in one statement; their new ids go to ids[i]."""
    if not which:
        return
    table = StoredFile.__table__  # type: ignore[attr-defined]
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    new_ids = session.execute(statement, [rows[i] for i in which]).scalars().all()
    for index, new_id in zip(which, new_ids, strict=True):
        ids[index] = new_id


def _first_copies(
    session: Session, items: Sequence[FileToRecord]
) -> dict[tuple[str, str], tuple[int, str]]:
    """(project, sha256) -> (id, name) of the first non-duplicate row already stored with it."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        wanted.setdefault(item.project_id, set()).add(item.blob.sha256)
    firsts: dict[tuple[str, str], tuple[int, str]] = {}
    for project_id, hashes in wanted.items():
        ordered = sorted(hashes)
        for start in range(0, len(ordered), _HASHES_PER_QUERY):
            for file_id, sha256, name in session.exec(
                select(StoredFile.id, StoredFile.sha256, StoredFile.original_name)
                .where(
                    StoredFile.project_id == project_id,
                    col(StoredFile.sha256).in_(ordered[start : start + _HASHES_PER_QUERY]),
                    col(StoredFile.duplicate_of_id).is_(None),
                )
                .order_by(col(StoredFile.id))
            ).all():
                firsts.setdefault((project_id, sha256), (file_id, name))  # type: ignore[arg-type]
    return firsts


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise InvalidInput(f"Unknown source {source!r}.")


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
                    raise TooLarge(too_large_message(settings))
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
        session.exec(delete(FileContent).where(col(FileContent.sha256) == record.sha256))
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
