"""Files: upload (multipart), list, metadata, download, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from finapp.api.deps import CurrentUser, DbSession, DownloadUser
from finapp.api.limits import MAX_FILES_PER_UPLOAD
from finapp.models import StoredFile
from finapp.services import files
from finapp.services.errors import FinappError, InvalidInput

router = APIRouter(prefix="/api/files", tags=["files"])

MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xls": "application/vnd.ms-excel",
    "ofx": "application/x-ofx",
    "pdf": "application/pdf",
    "png": "image/png",
    "jpeg": "image/jpeg",
}


class FileOut(BaseModel):
    id: int
    project_id: str
    name: str
    safe_name: str
    kind: str
    size: int
    sha256: str
    source: str
    source_ref: str
    received_at: datetime
    status: str
    status_detail: str
    duplicate_of: int | None
    transactions: int
    already_imported: int
    unreadable_rows: int

    @classmethod
    def of(cls, record: StoredFile) -> FileOut:
        return cls(
            id=record.id or 0,
            project_id=record.project_id,
            name=record.original_name,
            safe_name=record.safe_name,
            kind=record.kind,
            size=record.size,
            sha256=record.sha256,
            source=record.source,
            source_ref=record.source_ref,
            received_at=record.received_at,
            status=record.status,
            status_detail=record.status_detail,
            duplicate_of=record.duplicate_of_id,
            transactions=record.transaction_count,
            already_imported=record.already_imported_count,
            unreadable_rows=record.error_count,
        )


class FileDetail(FileOut):
    issues: list[dict[str, Any]]
    warnings: list[str]
    balance_break: dict[str, Any] | None

    @classmethod
    def of(cls, record: StoredFile) -> FileDetail:
        return cls(
            **FileOut.of(record).model_dump(),
            issues=record.issues,
            warnings=record.warnings,
            balance_break=record.balance_break,
        )


class Rejected(BaseModel):
    filename: str
    detail: str


class UploadResult(BaseModel):
    stored: list[FileOut]
    rejected: list[Rejected]


class FilePage(BaseModel):
    items: list[FileOut]
    total: int
    offset: int
    limit: int


@router.post("", response_model=UploadResult, status_code=status.HTTP_201_CREATED)
def upload_files(
    _user: CurrentUser,
    session: DbSession,
    # The service checks the id and answers 400 with the rule; this only bounds the field.
    project_id: Annotated[str, Form(max_length=1000)],
    file: Annotated[list[UploadFile], File(description="One or more files")],
) -> UploadResult:
    """Store files for a project. Each file is judged on its own; if every file is refused the
    answer is the first refusal's status (400 type/content, 413 size)."""
    stored: list[FileOut] = []
    rejected: list[Rejected] = []
    first_error: FinappError | None = None
    if len(file) > MAX_FILES_PER_UPLOAD:
        raise InvalidInput(f"At most {MAX_FILES_PER_UPLOAD} files per request.")
    files.ensure_project(session=session, project_id=project_id)
    for upload in file:
        name = upload.filename or "file"
        try:
            # A refused file raises before store_file adds any row, so the accepted ones stay.
            result = files.store_file(
                session=session,
                stream=upload.file,
                filename=name,
                project_id=project_id,
                source="upload",
                source_ref=f"api:{_user.username}",
            )
            stored.append(FileOut.of(result.file))
        except InvalidInput as exc:
            first_error = first_error or exc
            rejected.append(Rejected(filename=name[:255], detail=str(exc)))
    if not stored and first_error is not None:
        raise first_error
    return UploadResult(stored=stored, rejected=rejected)


@router.get("", response_model=FilePage)
def list_files(
    _user: CurrentUser,
    session: DbSession,
    project_id: str | None = None,
    source: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> FilePage:
    rows, total = files.list_files(
        session=session,
        project_id=project_id,
        source=source,
        status=status_,
        offset=offset,
        limit=limit,
    )
    return FilePage(items=[FileOut.of(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/{file_id}", response_model=FileDetail)
def get_file(file_id: int, _user: CurrentUser, session: DbSession) -> FileDetail:
    return FileDetail.of(files.get_file(session=session, file_id=file_id))


@router.get("/{file_id}/content", response_class=FileResponse, response_model=None)
def download_file(file_id: int, _user: DownloadUser, session: DbSession) -> Response:
    record = files.get_file(session=session, file_id=file_id)
    media_type = MEDIA_TYPES.get(record.kind, "application/octet-stream")
    content = files.stored_content(session=session, sha256=record.sha256)
    if isinstance(content, bytes):  # small content lives in the database
        return Response(content, media_type=media_type, headers=_download_headers(record))
    return FileResponse(  # large content streams from the data dir
        content,
        media_type=media_type,
        filename=record.safe_name,  # attachment; the stored name is already sanitised
        headers={"X-Content-Type-Options": "nosniff"},
    )


def _download_headers(record: StoredFile) -> dict[str, str]:
    """What FileResponse(filename=...) sends: a plain name, or RFC 5987 for non-ASCII."""
    quoted = quote(record.safe_name)
    disposition = (
        f'attachment; filename="{record.safe_name}"'
        if quoted == record.safe_name
        else f"attachment; filename*=utf-8''{quoted}"
    )
    return {"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"}


@router.delete("/{file_id}", response_model=FileOut)
def delete_file(file_id: int, _user: CurrentUser, session: DbSession) -> FileOut:
    return FileOut.of(files.delete_file(session=session, file_id=file_id))
