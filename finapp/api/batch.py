"""Batch jobs API (paths and shapes kept from the existing platform's documented API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from finapp.api.deps import CurrentUser, DbSession
from finapp.models import JobRun
from finapp.services import batch_jobs
from finapp.services.batch_jobs import JobView
from finapp.services.scheduler import current_scheduler, notify_scheduler

router = APIRouter(prefix="/api/batch", tags=["batch jobs"])


class AggregationJobCreate(BaseModel):
    job_id: str = Field(max_length=200)
    project_id: str = Field(max_length=200)
    schedule: str = Field(max_length=500, description="5-field cron, e.g. '0 2 * * *'")
    file_ids: list[int] | None = None
    enabled: bool = True
    timezone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Europe/Berlin")
    timeout_seconds: int = 3600
    max_retries: int = 2
    retry_backoff_seconds: int = 60


class JobUpdate(BaseModel):
    schedule: str | None = Field(None, max_length=500)
    timezone: str | None = Field(None, max_length=64)
    enabled: bool | None = None
    project_id: str | None = Field(None, max_length=200)
    file_ids: list[int] | None = None
    timeout_seconds: int | None = None
    max_retries: int | None = None
    retry_backoff_seconds: int | None = None


class RunOut(BaseModel):
    id: int
    trigger: str
    attempt: int
    status: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    result: dict[str, Any] | None
    error: str
    log: str

    @classmethod
    def of(cls, run: JobRun) -> RunOut:
        return cls(
            id=run.id or 0,
            trigger=run.trigger,
            attempt=run.attempt,
            status=run.status,
            scheduled_for=run.scheduled_for,
            started_at=run.started_at,
            finished_at=run.finished_at,
            duration_ms=run.duration_ms,
            result=run.result,
            error=run.error,
            log=run.log,
        )


class JobOut(BaseModel):
    job_id: str
    job_type: str
    project_id: str | None
    schedule: str
    timezone: str
    description: str
    enabled: bool
    status: str
    created_at: datetime
    updated_at: datetime
    next_run: datetime | None
    file_ids: list[int]
    timeout_seconds: int
    max_retries: int
    retry_backoff_seconds: int
    last_run: RunOut | None
    last_result: dict[str, Any] | None

    @classmethod
    def of(cls, view: JobView) -> JobOut:
        job = view.job
        return cls(
            job_id=job.job_id,
            job_type=job.job_type,
            project_id=job.project_id,
            schedule=job.cron,
            timezone=job.timezone,
            description=view.description,
            enabled=job.enabled,
            status=view.status,
            created_at=job.created_at,
            updated_at=job.updated_at,
            next_run=view.next_run,
            file_ids=job.params.get("file_ids", []),
            timeout_seconds=job.timeout_seconds,
            max_retries=job.max_retries,
            retry_backoff_seconds=job.retry_backoff_seconds,
            last_run=RunOut.of(view.last_run) if view.last_run else None,
            last_result=view.last_result,
        )


class JobPage(BaseModel):
    jobs: list[JobOut]
    total: int
    offset: int
    limit: int


class RunPage(BaseModel):
    runs: list[RunOut]
    total: int
    offset: int
    limit: int


Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post("/jobs/aggregation", response_model=JobOut, status_code=status.HTTP_201_CREATED)
def create_aggregation_job(
    body: AggregationJobCreate, _user: CurrentUser, session: DbSession
) -> JobOut:
    job = batch_jobs.create_job(session=session, job_type="aggregation", **body.model_dump())
    session.commit()
    notify_scheduler()
    return JobOut.of(batch_jobs.view(session=session, job_id=job.job_id))


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    _user: CurrentUser, session: DbSession, offset: Offset = 0, limit: Limit = 50
) -> JobPage:
    views, total = batch_jobs.list_jobs(session=session, offset=offset, limit=limit)
    return JobPage(jobs=[JobOut.of(v) for v in views], total=total, offset=offset, limit=limit)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, _user: CurrentUser, session: DbSession) -> JobOut:
    return JobOut.of(batch_jobs.view(session=session, job_id=job_id))


@router.patch("/jobs/{job_id}", response_model=JobOut)
def update_job(job_id: str, body: JobUpdate, _user: CurrentUser, session: DbSession) -> JobOut:
    batch_jobs.update_job(session=session, job_id=job_id, **body.model_dump(exclude_unset=True))
    return _changed(session, job_id)


@router.post("/jobs/{job_id}/pause", response_model=JobOut)
def pause_job(job_id: str, _user: CurrentUser, session: DbSession) -> JobOut:
    batch_jobs.pause_job(session=session, job_id=job_id)
    return _changed(session, job_id)


@router.post("/jobs/{job_id}/resume", response_model=JobOut)
def resume_job(job_id: str, _user: CurrentUser, session: DbSession) -> JobOut:
    batch_jobs.resume_job(session=session, job_id=job_id)
    return _changed(session, job_id)


@router.post("/jobs/{job_id}/run", response_model=RunOut, status_code=status.HTTP_202_ACCEPTED)
def run_job(job_id: str, _user: CurrentUser, session: DbSession) -> RunOut:
    """Queue a manual run now; the schedule is unaffected. Poll the runs to follow it."""
    run = batch_jobs.run_now(session=session, job_id=job_id)
    session.commit()
    notify_scheduler()
    return RunOut.of(run)


@router.delete("/jobs/{job_id}")
def delete_job(job_id: str, _user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Delete the job and its run history."""
    runs = batch_jobs.delete_job(session=session, job_id=job_id)
    session.commit()
    notify_scheduler()
    return {"deleted": job_id, "runs_deleted": runs}


@router.get("/jobs/{job_id}/runs", response_model=RunPage)
def list_runs(
    job_id: str, _user: CurrentUser, session: DbSession, offset: Offset = 0, limit: Limit = 50
) -> RunPage:
    runs, total = batch_jobs.list_runs(session=session, job_id=job_id, offset=offset, limit=limit)
    return RunPage(runs=[RunOut.of(r) for r in runs], total=total, offset=offset, limit=limit)


@router.get("/preview")
def preview(
    _user: CurrentUser,
    schedule: Annotated[str, Query(max_length=500)],
    timezone: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Describe a schedule and list its next 5 runs (422 with the reason when invalid)."""
    return batch_jobs.preview(schedule, timezone)


@router.get("/health")
def health(_user: CurrentUser, session: DbSession) -> dict[str, Any]:
    """Jobs, the next fire, and where the scheduler runs (this process or another)."""
    scheduler = current_scheduler()
    local = scheduler.status() if scheduler else None
    if local is None:
        where = "disabled in this process"
    elif local["active"]:
        where = "active in this process"
    else:
        where = "passive here: another process holds the scheduler lock"
    return {
        "status": "ok",
        **batch_jobs.health(session=session),
        "scheduler": where,
        "this_process": local,
    }


def _changed(session: DbSession, job_id: str) -> JobOut:
    session.commit()
    notify_scheduler()
    return JobOut.of(batch_jobs.view(session=session, job_id=job_id))
