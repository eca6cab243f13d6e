"""Run records and their execution: fire, claim, execute with timeout, retry, recover.

Every state a run passes through is a row in `job_run`, written before the work starts and
after it ends, so a crash leaves evidence (a `running` row whose heartbeat stops) and a restart
can say what happened. The unique (job, scheduled_for) key makes a second scheduler's insert for
the same fire a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from finapp.db import session_scope, utcnow
from finapp.models import BatchJob, JobRun
from finapp.services.cron import CronTrigger
from finapp.services.job_types import handler_for

logger = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
HEARTBEAT_SECONDS = 5
STALE_AFTER = timedelta(seconds=30)
MAX_LOG_CHARS = 20_000
MAX_COUNTED_FIRES = 100_000
RETRY_WAIT = timedelta(seconds=5)


def record_fire(
    *, session: Session, job: BatchJob, scheduled_for: datetime, trigger: str = "schedule"
) -> JobRun | None:
    """A queued run for this fire, or None when one exists already (another scheduler, a
    retry of the fire): the unique (job, scheduled_for) key decides."""
    # INSERT … ON CONFLICT DO NOTHING rather than catching IntegrityError: no savepoint needed,
    # and the session stays usable either way.
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    statement = (
        insert(JobRun)
        .values(
            job_pk=job.id,
            trigger=trigger,
            scheduled_for=scheduled_for,
            status="queued",
            attempt=1,
            queued_at=utcnow(),
            worker="",
            error="",
            log="",
        )
        .on_conflict_do_nothing(index_elements=["job_pk", "scheduled_for"])
        .returning(JobRun.id)
    )
    run_id = session.execute(statement).scalar()
    if run_id is None:
        return None
    run = session.get(JobRun, run_id)
    if job.last_scheduled_for is None or scheduled_for > job.last_scheduled_for:
        job.last_scheduled_for = scheduled_for
        session.add(job)
    session.flush()
    return run


def queue_run(
    *, session: Session, job: BatchJob, trigger: str, when: datetime | None = None, attempt: int = 1
) -> JobRun:
    """A manual or retry run; `when` is when it becomes due (now for Run Now)."""
    run = JobRun(job_pk=job.id, trigger=trigger, scheduled_for=when or utcnow(), attempt=attempt)
    session.add(run)
    session.flush()
    return run


def claim(*, session: Session, run_id: int) -> JobRun | None:
    """Move a queued run to running, or to skipped when its job is already running.

    The conditional UPDATE makes the claim atomic: of two claimers, one wins.
    """
    run = session.get(JobRun, run_id)
    if run is None or run.status != "queued":
        return None
    busy = session.exec(
        select(JobRun.id).where(
            JobRun.job_pk == run.job_pk, JobRun.status == "running", JobRun.id != run.id
        )
    ).first()
    now = utcnow()
    if busy is not None and run.trigger == "retry":
        # A retry is owed, not optional: wait for the running run instead of dropping it.
        run.scheduled_for = now + RETRY_WAIT
        session.add(run)
        session.flush()
        return None
    if busy is not None:
        run.status = "skipped"
        run.finished_at = now
        run.error = f"Not started: run #{busy} of this job was still running (no overlapping runs)."
        session.add(run)
        session.flush()
        return None
    claimed = session.execute(
        update(JobRun)
        .where(col(JobRun.id) == run_id, col(JobRun.status) == "queued")
        .values(status="running", started_at=now, heartbeat_at=now, worker=WORKER)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(run)
    return run


def due_runs(*, session: Session, now: datetime | None = None, limit: int = 100) -> list[int]:
    return list(
        session.exec(
            select(JobRun.id)
            .where(JobRun.status == "queued", JobRun.scheduled_for <= (now or utcnow()))
            .order_by(col(JobRun.scheduled_for), col(JobRun.id))
            .limit(limit)
        ).all()
    )


def execute(run_id: int) -> str:
    """Run a claimed run to its end: completed, failed (error + traceback), or failed on timeout.
    A failure queues a retry with exponential backoff while the job has retries left."""
    with session_scope() as session:
        run = session.get(JobRun, run_id)
        job = session.get(BatchJob, run.job_pk) if run else None
        if run is None or job is None:
            return "gone"
        snapshot = BatchJob.model_validate(job.model_dump())
        timeout = job.timeout_seconds
        prior_log = run.log  # e.g. a catch-up run's note on what it stands for
    lines: list[str] = []

    def log(message: str) -> None:
        lines.append(f"{utcnow():%H:%M:%S} {message}")

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with session_scope() as session:
                outcome["result"] = handler_for(snapshot.job_type)(session, snapshot, log)
        except BaseException as exc:  # recorded on the run, never lost in a thread
            outcome["error"] = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"

    started = time.monotonic()
    log(f"Started by {WORKER} (attempt {run.attempt})")
    worker = threading.Thread(target=work, name=f"finapp-run-{run_id}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        # Python cannot kill a thread: the work is abandoned, not stopped; see the README.
        status, error = "failed", f"Timed out after {timeout} s."
        log(error)
    elif "error" in outcome:
        status, error = "failed", outcome["error"]
        log(f"Failed: {error.splitlines()[0]}")
    else:
        status, error = "completed", ""
        log("Completed")
    duration_ms = int((time.monotonic() - started) * 1000)
    with session_scope() as session:
        run = session.get(JobRun, run_id)
        if run is None:  # the job was deleted while it ran
            return status
        run.status = status
        run.finished_at = utcnow()
        run.duration_ms = duration_ms
        run.result = outcome.get("result") if status == "completed" else None
        run.error = error
        run.log = "\n".join([prior_log, *lines] if prior_log else lines)[-MAX_LOG_CHARS:]
        session.add(run)
        job = session.get(BatchJob, run.job_pk)
        if status == "failed" and job is not None and run.attempt <= job.max_retries:
            delay = job.retry_backoff_seconds * 2 ** (run.attempt - 1)
            retry = queue_run(
                session=session,
                job=job,
                trigger="retry",
                when=utcnow() + timedelta(seconds=delay),
                attempt=run.attempt + 1,
            )
            run.log += f"\nRetry #{retry.id} queued in {delay} s (attempt {retry.attempt})."
    return status


def beat(*, session: Session, run_ids: set[int]) -> None:
    if run_ids:
        session.execute(
            update(JobRun)
            .where(col(JobRun.id).in_(run_ids), col(JobRun.status) == "running")
            .values(heartbeat_at=utcnow())
        )


def abandon_dead_runs(
    *, session: Session, in_flight: set[int], now: datetime | None = None
) -> list[int]:
    """Mark `running` rows whose process died as abandoned.

    Dead means: started by a process on this host that no longer exists, or by any process
    whose heartbeat stopped more than STALE_AFTER ago. Runs this process executes are alive.
    """
    now = now or utcnow()
    host = socket.gethostname()
    abandoned = []
    for run in session.exec(select(JobRun).where(JobRun.status == "running")).all():
        if run.id in in_flight:
            continue
        if process_gone(run.worker, host):
            reason = f"The process that ran it ({run.worker}) stopped."
        elif run.heartbeat_at is None or now - run.heartbeat_at > STALE_AFTER:
            reason = f"No heartbeat from {run.worker or 'its process'} since {run.heartbeat_at}."
        else:
            continue
        run.status = "abandoned"
        run.finished_at = now
        run.error = reason + " Marked abandoned when the scheduler next checked."
        session.add(run)
        abandoned.append(run.id)
    if abandoned:
        logger.warning("Marked %d runs abandoned: %s", len(abandoned), abandoned)
    return abandoned


def process_gone(worker: str, host: str | None = None) -> bool:
    """Whether `worker` (host:pid, as WORKER) names a process of this host that has ended.
    A process on another host cannot be checked from here: not gone, as far as we know."""
    worker_host, _, pid = worker.rpartition(":")
    return worker_host == (host or socket.gethostname()) and pid.isdigit() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def catch_up(*, session: Session, job: BatchJob, now: datetime, grace: timedelta) -> JobRun | None:
    """After downtime: fire times between the last handled one and now were missed.

    The most recent one, if within the grace period, becomes one catch-up run (coalescing the
    others); otherwise one `missed` run records them. Nothing is silently lost.
    """
    since = job.last_scheduled_for or job.updated_at
    trigger = CronTrigger(job.cron, job.timezone)
    missed = count_fire_times(trigger, since, now)
    if missed is None:
        return None
    count, first, latest = missed
    counted = f"{count}" if count < MAX_COUNTED_FIRES else f"More than {MAX_COUNTED_FIRES}"
    note = (
        f"{counted} fire time(s) missed between {first.isoformat()} and "
        f"{latest.isoformat()} while no scheduler was running."
    )
    if now - latest <= grace:
        run = record_fire(session=session, job=job, scheduled_for=latest, trigger="catch-up")
        if run is not None:
            run.log = note + " Coalesced into this one catch-up run."
            session.add(run)
        return run
    run = record_fire(session=session, job=job, scheduled_for=latest, trigger="schedule")
    if run is not None:
        run.status = "missed"
        run.finished_at = now
        run.error = note + f" Beyond the {int(grace.total_seconds())} s grace period: not run."
        session.add(run)
    return run


def count_fire_times(
    trigger: CronTrigger, start: datetime, end: datetime
) -> tuple[int, datetime, datetime] | None:
    """How many fire times fall in (start, end], the first and the latest; None if none.

    Counting stops at MAX_COUNTED_FIRES (a per-minute job down for months); the latest is then
    found directly from the end."""
    count = 0
    first: datetime | None = None
    latest: datetime | None = None
    for moment in trigger.after(start):
        if moment > end:
            break
        count += 1
        first = first or moment
        latest = moment
        if count >= MAX_COUNTED_FIRES:
            latest = trigger.latest_at_or_before(end)
            break
    if first is None or latest is None:
        return None
    return count, first, latest


def prune(*, session: Session, keep: int) -> int:
    """Keep the newest `keep` finished runs per job; returns how many were deleted."""
    deleted = 0
    crowded = session.exec(
        select(JobRun.job_pk).group_by(JobRun.job_pk).having(func.count() > keep)
    ).all()
    for job_pk in crowded:
        old = session.exec(
            select(JobRun)
            .where(
                JobRun.job_pk == job_pk,
                col(JobRun.status).not_in(["queued", "running"]),
            )
            .order_by(col(JobRun.id).desc())
            .offset(keep)
        ).all()
        for run in old:
            session.delete(run)
        deleted += len(old)
    return deleted
