"""Figures for the dashboard cards."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, col, func, select

from finapp.db import utcnow
from finapp.models import (
    AggregationReport,
    BatchJob,
    JobRun,
    Mailbox,
    StoredFile,
    Transaction,
)
from finapp.services import batch_jobs


@dataclass(frozen=True)
class Overview:
    files_by_source: dict[str, int] = field(default_factory=dict)
    files_total: int = 0
    files_failed: int = 0
    transactions: int = 0
    projects: int = 0
    failing_projects: list[str] = field(default_factory=list)
    jobs: int = 0
    running_runs: int = 0
    next_run: str | None = None
    failed_runs_24h: int = 0
    failed_jobs: list[str] = field(default_factory=list)
    email_files_today: int = 0
    mailboxes: int = 0
    mailbox_errors: list[str] = field(default_factory=list)
    last_mail_check: str | None = None


def overview(*, session: Session) -> Overview:
    by_source = dict(
        session.exec(select(StoredFile.source, func.count()).group_by(StoredFile.source)).all()
    )
    failed_files = session.exec(
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
    jobs = batch_jobs.health(session=session)
    failed = session.exec(
        select(BatchJob.job_id, func.count())
        .join(JobRun, col(JobRun.job_pk) == BatchJob.id)
        .where(
            col(JobRun.status).in_(["failed", "abandoned", "missed"]),
            col(JobRun.finished_at) >= utcnow() - timedelta(hours=24),
        )
        .group_by(BatchJob.job_id)
    ).all()
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    email_today = session.exec(
        select(func.count())
        .select_from(StoredFile)
        .where(StoredFile.source == "email", StoredFile.received_at >= midnight)
    ).one()
    boxes = session.exec(select(Mailbox).where(Mailbox.enabled)).all()
    checks = [m.last_check_at for m in boxes if m.last_check_at]
    return Overview(
        email_files_today=email_today,
        mailboxes=len(boxes),
        mailbox_errors=sorted(m.name for m in boxes if m.last_status == "error"),
        last_mail_check=max(checks).isoformat() if checks else None,
        jobs=jobs["jobs"],
        running_runs=jobs["running_runs"],
        next_run=jobs["next_run"],
        failed_runs_24h=sum(n for _, n in failed),
        failed_jobs=sorted(job_id for job_id, _ in failed),
        files_by_source=by_source,
        files_total=sum(by_source.values()),
        files_failed=failed_files,
        transactions=transactions,
        projects=len(reports),
        failing_projects=sorted(p for p, valid in reports if not valid),
    )
