"""Figures for the dashboard cards."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select

from finapp.models import AggregationReport, StoredFile, Transaction


@dataclass(frozen=True)
class Overview:
    files_by_source: dict[str, int] = field(default_factory=dict)
    files_total: int = 0
    files_failed: int = 0
    transactions: int = 0
    projects: int = 0
    failing_projects: list[str] = field(default_factory=list)


def overview(*, session: Session) -> Overview:
    by_source = dict(
        session.exec(select(StoredFile.source, func.count()).group_by(StoredFile.source)).all()
    )
    failed = session.exec(
        select(func.count()).select_from(StoredFile).where(StoredFile.status == "failed")
    ).one()
    transactions = session.exec(select(func.count()).select_from(Transaction)).one()
    latest = (
        select(AggregationReport.project_id, func.max(AggregationReport.id).label("latest_id"))
        .group_by(AggregationReport.project_id)
        .subquery()
    )
    reports = session.exec(
        select(AggregationReport.project_id, AggregationReport.is_valid).join(
            latest, col(AggregationReport.id) == latest.c.latest_id
        )
    ).all()
    return Overview(
        files_by_source=by_source,
        files_total=sum(by_source.values()),
        files_failed=failed,
        transactions=transactions,
        projects=len(reports),
        failing_projects=sorted(p for p, valid in reports if not valid),
    )
