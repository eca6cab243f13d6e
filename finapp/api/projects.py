"""Projects: list, aggregate, latest report, transactions as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from finapp.api.deps import CurrentUser, DbSession, DownloadUser
from finapp.db import session_scope
from finapp.models import Project
from finapp.services import aggregation, files, ledger
from finapp.services.errors import NotFound

router = APIRouter(prefix="/api/projects", tags=["projects"])


class ProjectOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class AggregateRequest(BaseModel):
    file_ids: list[int] | None = None


@router.get("", response_model=list[ProjectOut])
def list_projects(_user: CurrentUser, session: DbSession) -> list[ProjectOut]:
    return [
        ProjectOut(id=p.id, name=p.name, created_at=p.created_at)
        for p in files.list_projects(session=session)
    ]


@router.post("/{project_id}/aggregate")
def aggregate(
    project_id: str,
    _user: CurrentUser,
    session: DbSession,
    body: AggregateRequest | None = None,
) -> dict[str, Any]:
    """Extract the project's pending files and return the fresh report."""
    _require_project(session, project_id)
    return aggregation.aggregate_project(
        session=session, project_id=project_id, file_ids=body.file_ids if body else None
    )


@router.get("/{project_id}/report")
def latest_report(project_id: str, _user: CurrentUser, session: DbSession) -> dict[str, Any]:
    _require_project(session, project_id)
    report = aggregation.latest_report(session=session, project_id=project_id)
    return {**report.report, "report_id": report.id, "created_at": report.created_at.isoformat()}


@router.get("/{project_id}/transactions.csv", response_class=StreamingResponse)
def transactions_csv(project_id: str, _user: DownloadUser, session: DbSession) -> StreamingResponse:
    _require_project(session, project_id)

    def stream() -> Iterator[str]:  # its own session: the response outlives the request's
        with session_scope() as export_session:
            yield from ledger.export_csv(session=export_session, project_id=project_id)

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{project_id}-transactions.csv"'},
    )


def _require_project(session: DbSession, project_id: str) -> None:
    if session.get(Project, project_id) is None:
        raise NotFound(f"No project {project_id!r}.")
