"""Files page: upload with a project picker, filters, pagination, delete, live status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from finapp.components.controls import ALL
from finapp.db import session_scope
from finapp.models import StoredFile
from finapp.services import aggregation, files
from finapp.services.errors import FinappError
from finapp.state.auth import AuthState
from finapp.state.paging import range_label

PAGE_SIZE = 25
UPLOAD_ID = "file-upload"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def file_row(record: StoredFile) -> dict[str, str]:
    return {
        "id": str(record.id),
        "name": record.original_name,
        "project_id": record.project_id,
        "source": record.source,
        "kind": record.kind.upper(),
        "size": human_size(record.size),
        "received_at": record.received_at.isoformat(),
        "status": record.status,
        "detail": record.status_detail,
    }


def _aggregate(project_id: str) -> None:
    with session_scope() as session:
        aggregation.aggregate_project(session=session, project_id=project_id)


class FilesState(AuthState):
    files: list[dict[str, str]] = []
    total: int = 0
    page: int = 0
    loading: bool = True
    projects: list[str] = []
    filter_project: str = ALL
    filter_source: str = ALL
    filter_status: str = ALL
    upload_project: str = ""
    uploading: bool = False
    upload_progress: int = 0
    processing: bool = False
    upload_results: list[dict[str, str]] = []
    error: str = ""

    @rx.var
    def page_label(self) -> str:
        return range_label(self.page, PAGE_SIZE, self.total, "No files")

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.total

    @rx.event
    def load(self) -> rx.event.EventSpec | None:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        self._refresh()
        return None

    def _refresh(self) -> None:
        def chosen(value: str) -> str | None:
            return None if value == ALL else value

        with session_scope() as session:
            self.projects = [p.id for p in files.list_projects(session=session)]
            rows, self.total = files.list_files(
                session=session,
                project_id=chosen(self.filter_project),
                source=chosen(self.filter_source),
                status=chosen(self.filter_status),
                offset=self.page * PAGE_SIZE,
                limit=PAGE_SIZE,
            )
            self.files = [file_row(r) for r in rows]
        if not self.upload_project and self.projects:
            self.upload_project = self.projects[0]
        self.loading = False

    @rx.event
    def tick(self, _value: Any = None) -> None:
        """Timer: keep statuses live while extraction runs elsewhere (jobs, other users)."""
        if self.is_authenticated and not self.uploading:
            self._refresh()

    @rx.event
    def set_filter_project(self, value: str) -> None:
        self.filter_project, self.page = value, 0
        self._refresh()

    @rx.event
    def set_filter_source(self, value: str) -> None:
        self.filter_source, self.page = value, 0
        self._refresh()

    @rx.event
    def set_filter_status(self, value: str) -> None:
        self.filter_status, self.page = value, 0
        self._refresh()

    @rx.event
    def next_page(self) -> None:
        if self.has_next:
            self.page += 1
            self._refresh()

    @rx.event
    def previous_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self._refresh()

    @rx.event
    def set_upload_project(self, value: str) -> None:
        self.upload_project = value.strip()[:64]

    @rx.event
    def upload_progress_changed(self, progress: dict[str, Any]) -> None:
        self.upload_progress = round(float(progress.get("progress", 0)) * 100)

    @rx.event
    async def handle_upload(self, uploads: list[rx.UploadFile]) -> AsyncIterator[Any]:
        self.error = ""
        self.upload_results = []
        if self._signed_in_user_id() is None:
            yield self._login_redirect()
            return
        if not uploads:
            self.error = "Choose or drop at least one file first."
            return
        self.uploading = True
        yield
        stored = 0
        for upload in uploads:
            name = upload.filename or "file"
            try:
                with session_scope() as session:
                    result = files.store_file(
                        session=session,
                        stream=upload.file,
                        filename=name,
                        project_id=self.upload_project,
                        source="upload",
                        source_ref=f"ui:{self.username}",
                    )
                    outcome = "duplicate" if result.duplicate else "stored"
                    detail = result.file.status_detail or "Queued for extraction."
                stored += 1
            except FinappError as exc:
                outcome, detail = "rejected", str(exc)
            self.upload_results.append({"name": name, "outcome": outcome, "detail": detail})
        self.uploading = False
        self.upload_progress = 0
        self._refresh()
        yield rx.clear_selected_files(UPLOAD_ID)
        if stored:
            yield FilesState.process_project(self.upload_project)

    @rx.event(background=True)
    async def process_project(self, project_id: str) -> AsyncIterator[Any]:
        """Extract and re-aggregate off the event loop; the table updates when done."""
        async with self:
            self.processing = True
        try:
            await asyncio.to_thread(_aggregate, project_id)
        except FinappError as exc:
            async with self:
                self.error = str(exc)
        async with self:
            self.processing = False
            self._refresh()
        yield rx.toast.success(f"{project_id}: files processed, report updated.")

    @rx.event
    def delete_file(self, file_id: str) -> list[Any] | None:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            with session_scope() as session:
                record = files.delete_file(session=session, file_id=int(file_id))
                name, project_id = record.original_name, record.project_id
        except (FinappError, ValueError) as exc:
            self.error = str(exc)
            return None
        self._refresh()
        # Re-aggregate: files that shared lines with this one were re-queued for extraction.
        return [
            rx.toast.success(f"Deleted {name} and its transactions."),
            FilesState.process_project(project_id),
        ]
