"""Batch jobs: create, edit, pause, resume, delete, run now, and what the UI and API show.

Deleting a job deletes its run history with it (the runs cascade); export the history first
(`GET /api/batch/jobs/{job_id}/runs`) if you need to keep it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, func, select

from finapp.db import utcnow
from finapp.models import BatchJob, JobRun, StoredFile
from finapp.services import cron, job_runs
from finapp.services.errors import Conflict, InvalidInput, NotFound
from finapp.services.files import ensure_project
from finapp.services.job_types import job_types
from finapp.settings import get_settings

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LIMITS = {
    "timeout_seconds": (1, 24 * 3600),
    "max_retries": (0, 10),
    "retry_backoff_seconds": (1, 24 * 3600),
}


@dataclass(frozen=True)
class JobView:
    """A job as the API and UI show it."""

    job: BatchJob
    status: str  # scheduled | running | paused | failed
    description: str
    next_run: datetime | None
    last_run: JobRun | None

    @property
    def last_result(self) -> dict[str, Any] | None:
        if self.last_run is None or not self.last_run.result:
            return None
        r = self.last_run.result
        return {k: r.get(k) for k in ("files_processed", "transactions", "is_valid")}


def create_job(
    *,
    session: Session,
    job_id: str,
    project_id: str,
    schedule: str,
    job_type: str = "aggregation",
    timezone: str | None = None,
    enabled: bool = True,
    file_ids: list[int] | None = None,
    timeout_seconds: int = 3600,
    max_retries: int = 2,
    retry_backoff_seconds: int = 60,
) -> BatchJob:
    job_id = (job_id or "").strip()
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise InvalidInput(
            "A job id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or "
            f"digit (got {job_id[:80]!r})."
        )
    if job_type not in job_types():
        raise InvalidInput(f"Unknown job type {job_type!r}; known: {', '.join(job_types())}.")
    if session.exec(select(BatchJob.id).where(BatchJob.job_id == job_id)).first() is not None:
        raise Conflict(f"A job with id {job_id!r} already exists.")
    project = ensure_project(session=session, project_id=project_id)
    job = BatchJob(
        job_id=job_id,
        job_type=job_type,
        project_id=project.id,
        cron=cron.parse_cron(schedule),
        timezone=_zone(timezone),
        enabled=enabled,
        params={"file_ids": _file_ids(session, project.id, file_ids)} if file_ids else {},
    )
    _apply_policy(job, timeout_seconds, max_retries, retry_backoff_seconds)
    session.add(job)
    session.flush()
    return job


EMAIL_JOB_ID = "email-check"


def poll_schedule(minutes: int) -> str:
    """EMAIL_POLL_MINUTES as cron: every n minutes (steps restart each hour, as in cron)."""
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = max(1, minutes // 60)
    return "0 * * * *" if hours == 1 else f"0 */{min(hours, 23)} * * *"


def ensure_email_job(*, session: Session, poll_minutes: int, wanted: bool) -> BatchJob | None:
    """Keep the email_check job in line with the configuration: it exists and follows
    EMAIL_POLL_MINUTES while a mailbox is enabled, and is paused otherwise."""
    job = session.exec(select(BatchJob).where(BatchJob.job_id == EMAIL_JOB_ID)).first()
    schedule = poll_schedule(poll_minutes)
    if job is None:
        if not wanted:
            return None
        job = BatchJob(
            job_id=EMAIL_JOB_ID,
            job_type="email_check",
            project_id=None,
            cron=schedule,
            timezone="UTC",
            timeout_seconds=1800,
            max_retries=0,
        )
    elif job.cron == schedule and job.enabled == wanted:
        return job
    job.cron = schedule
    _set_enabled(job, wanted)
    job.updated_at = utcnow()
    session.add(job)
    session.flush()
    return job


def update_job(*, session: Session, job_id: str, **changes: Any) -> BatchJob:
    """Change any of: schedule, timezone, enabled, project_id, file_ids, timeout_seconds,
    max_retries, retry_backoff_seconds. A new schedule takes effect from now on."""
    job = get_job(session=session, job_id=job_id)
    unknown = set(changes) - {
        "schedule",
        "timezone",
        "enabled",
        "project_id",
        "file_ids",
        *LIMITS,
    }
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.")
    if changes.get("schedule") is not None:
        job.cron = cron.parse_cron(changes["schedule"])
        job.last_scheduled_for = utcnow()  # no catch-up for fire times of the old schedule
    if changes.get("timezone") is not None:
        job.timezone = _zone(changes["timezone"])
    if changes.get("project_id") is not None:
        job.project_id = ensure_project(session=session, project_id=changes["project_id"]).id
    # File ids are checked against the (possibly new) project whether or not they changed.
    wanted = changes["file_ids"] if "file_ids" in changes else job.params.get("file_ids")
    ids = _file_ids(session, job.project_id, wanted)
    job.params = {**job.params, "file_ids": ids} if ids else {}

    def unless_null(name: str) -> Any:  # null in a PATCH means "leave as it is"
        value = changes.get(name)
        return getattr(job, name) if value is None else value

    _apply_policy(
        job,
        unless_null("timeout_seconds"),
        unless_null("max_retries"),
        unless_null("retry_backoff_seconds"),
    )
    if changes.get("enabled") is not None:
        _set_enabled(job, bool(changes["enabled"]))
    job.updated_at = utcnow()
    session.add(job)
    session.flush()
    return job


def pause_job(*, session: Session, job_id: str) -> BatchJob:
    return update_job(session=session, job_id=job_id, enabled=False)


def resume_job(*, session: Session, job_id: str) -> BatchJob:
    return update_job(session=session, job_id=job_id, enabled=True)


def _set_enabled(job: BatchJob, enabled: bool) -> None:
    if enabled and not job.enabled:
        # Fire times while paused were not missed: they were not wanted.
        job.last_scheduled_for = utcnow()
    job.enabled = enabled


def delete_job(*, session: Session, job_id: str) -> int:
    """Delete the job and its run history; returns how many runs went with it."""
    job = get_job(session=session, job_id=job_id)
    runs = session.exec(
        select(func.count()).select_from(JobRun).where(JobRun.job_pk == job.id)
    ).one()
    session.exec(delete(JobRun).where(col(JobRun.job_pk) == job.id))
    session.delete(job)
    session.flush()
    return runs


def get_job(*, session: Session, job_id: str) -> BatchJob:
    job = session.exec(select(BatchJob).where(BatchJob.job_id == job_id)).first()
    if job is None:
        raise NotFound(f"No batch job {job_id!r}.")
    return job


def list_jobs(*, session: Session, offset: int = 0, limit: int = 50) -> tuple[list[JobView], int]:
    total = session.exec(select(func.count()).select_from(BatchJob)).one()
    jobs = session.exec(
        select(BatchJob).order_by(col(BatchJob.job_id)).offset(max(0, offset)).limit(limit)
    ).all()
    return views(session=session, jobs=list(jobs)), total


def views(*, session: Session, jobs: list[BatchJob]) -> list[JobView]:
    """Status, next run and last run for a page of jobs in two queries."""
    ids = [j.id for j in jobs]
    # The last run is the newest that actually ran (or was missed): a skipped fire must not
    # hide the run that made it skip.
    latest_ids = session.exec(
        select(func.max(JobRun.id))
        .where(col(JobRun.job_pk).in_(ids), col(JobRun.status).not_in(["queued", "skipped"]))
        .group_by(JobRun.job_pk)
    ).all()
    running = set(
        session.exec(
            select(JobRun.job_pk).where(col(JobRun.job_pk).in_(ids), JobRun.status == "running")
        ).all()
    )
    latest = {
        r.job_pk: r
        for r in session.exec(select(JobRun).where(col(JobRun.id).in_(latest_ids))).all()
    }
    now = utcnow()
    result = []
    for job in jobs:
        last = latest.get(job.id)
        if not job.enabled:
            status = "paused"
        elif job.id in running:
            status = "running"
        elif last is not None and last.status in ("failed", "abandoned", "missed"):
            status = "failed"
        else:
            status = "scheduled"
        trigger = cron.CronTrigger(job.cron, job.timezone)
        result.append(
            JobView(
                job=job,
                status=status,
                description=cron.describe(job.cron),
                next_run=trigger.get_next_fire_time(None, now) if job.enabled else None,
                last_run=last,
            )
        )
    return result


def view(*, session: Session, job_id: str) -> JobView:
    return views(session=session, jobs=[get_job(session=session, job_id=job_id)])[0]


def health(*, session: Session) -> dict[str, Any]:
    """Jobs count and the next fire over all enabled jobs (one computation per distinct
    schedule and zone, however many jobs share it)."""
    total = session.exec(select(func.count()).select_from(BatchJob)).one()
    schedules = session.exec(
        select(BatchJob.cron, BatchJob.timezone).where(BatchJob.enabled).distinct()
    ).all()
    now = utcnow()
    upcoming = [cron.CronTrigger(c, z).get_next_fire_time(None, now) for c, z in schedules]
    running = session.exec(
        select(func.count()).select_from(JobRun).where(JobRun.status == "running")
    ).one()
    return {
        "jobs": total,
        "running_runs": running,
        "next_run": min(upcoming).isoformat() if upcoming else None,
    }


def list_runs(
    *, session: Session, job_id: str, offset: int = 0, limit: int = 50
) -> tuple[list[JobRun], int]:
    job = get_job(session=session, job_id=job_id)
    total = session.exec(
        select(func.count()).select_from(JobRun).where(JobRun.job_pk == job.id)
    ).one()
    runs = session.exec(
        select(JobRun)
        .where(JobRun.job_pk == job.id)
        .order_by(col(JobRun.id).desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, 500)))
    ).all()
    return list(runs), total


def run_now(*, session: Session, job_id: str) -> JobRun:
    """Queue a manual run; the schedule is left alone. Runs even when the job is paused."""
    job = get_job(session=session, job_id=job_id)
    return job_runs.queue_run(session=session, job=job, trigger="manual")


def preview(schedule: str, timezone: str | None = None, count: int = 5) -> dict[str, Any]:
    expression = cron.parse_cron(schedule)
    zone = _zone(timezone)
    return {
        "schedule": expression,
        "timezone": zone,
        "description": cron.describe(expression),
        "next_runs": [t.isoformat() for t in cron.next_runs(expression, zone, count)],
    }


def _zone(timezone: str | None) -> str:
    name = (timezone or get_settings().default_timezone).strip()
    cron.parse_timezone(name)
    return name


def _file_ids(session: Session, project_id: str, file_ids: list[int] | None) -> list[int]:
    if not file_ids:
        return []
    ids = sorted({int(i) for i in file_ids})
    found = set(
        session.exec(
            select(StoredFile.id).where(
                col(StoredFile.id).in_(ids), StoredFile.project_id == project_id
            )
        ).all()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(f"Files {missing} do not exist in project {project_id!r}.")
    return ids


def _apply_policy(job: BatchJob, timeout: int, retries: int, backoff: int) -> None:
    for name, value in (
        ("timeout_seconds", timeout),
        ("max_retries", retries),
        ("retry_backoff_seconds", backoff),
    ):
        low, high = LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise InvalidInput(f"{name} must be between {low} and {high}.")
        setattr(job, name, value)
