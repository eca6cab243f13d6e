"""The scheduler: APScheduler as the clock, the database as the truth, one active process.

Every process that starts a `Scheduler` runs a small leader loop. The one that holds the lock
(see scheduler_lock) is active: it abandons runs whose process died, records missed fires
(catch-up), loads every enabled job into an APScheduler `BackgroundScheduler` with an in-memory
job store and `CronTrigger`s, and then, each tick (or at once when woken), picks up job changes
made by any process, starts due queued runs (Run Now, retries) and beats the heartbeat of its
running runs. The others stay passive and try the lock every few seconds: when the holder dies
the OS or PostgreSQL frees it and one of them takes over.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session, func, select

from finapp.db import get_engine, session_scope, utcnow
from finapp.models import BatchJob
from finapp.services import extraction_queue, job_runs
from finapp.services.cron import CronTrigger
from finapp.services.scheduler_lock import SchedulerLock, lock_for
from finapp.settings import get_settings

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
PASSIVE_RETRY_SECONDS = 2.0
PRUNE_EVERY_SECONDS = 600


class Scheduler:
    def __init__(
        self, *, lock: SchedulerLock | None = None, max_workers: int = 4, tick: float = TICK_SECONDS
    ) -> None:
        settings = get_settings()
        self.lock = lock or lock_for(get_engine(), settings.data_dir)
        self.grace = timedelta(seconds=settings.job_misfire_grace_seconds)
        self.retention = settings.job_run_retention
        self.tick = tick
        self.active = False
        self.ready_at: float | None = None
        self._started_at = time.monotonic()
        self._clock: BackgroundScheduler | None = None
        self._loaded: dict[int, datetime] = {}  # job pk -> updated_at it was loaded with
        self._fingerprint: tuple[int, datetime | None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="finapp-job"
        )
        self._in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # -inf, not 0: time.monotonic() counts from boot, so on a machine up for less than
        # PRUNE_EVERY_SECONDS a 0 meant no pruning (nor heartbeat) until then.
        self._last_prune = float("-inf")
        self._last_beat = float("-inf")

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Scheduler:
        self._thread = threading.Thread(target=self._loop, name="finapp-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._become_passive()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def notify(self) -> None:
        """Something changed (job edited, Run Now): act now instead of at the next tick."""
        self._wake.set()

    def status(self) -> dict[str, Any]:
        next_fire = None
        if self._clock is not None:
            times = [j.next_run_time for j in self._clock.get_jobs() if j.next_run_time]
            next_fire = min(times).isoformat() if times else None
        return {
            "active": self.active,
            "worker": job_runs.WORKER,
            "lock": self.lock.description,
            "jobs_loaded": len(self._loaded),
            "running_runs": len(self._in_flight),
            "next_fire": next_fire,
        }

    # -- leader loop ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.active:
                    if self.lock.acquire():
                        self._become_active()
                    else:
                        self._stop.wait(PASSIVE_RETRY_SECONDS)
                        continue
                elif not self.lock.healthy():
                    self._become_passive()
                    continue
                self._tick()
            except Exception:  # the loop must outlive any one bad tick
                logger.exception("Scheduler tick failed")
            self._wake.wait(self.tick)
            self._wake.clear()

    def _become_active(self) -> None:
        logger.info("Scheduler active in %s (%s)", job_runs.WORKER, self.lock.description)
        if self._clock is not None:  # a previous attempt failed half-way
            self._clock.shutdown(wait=False)
        with session_scope() as session:
            job_runs.abandon_dead_runs(session=session, in_flight=self._snapshot_in_flight())
        self._clock = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._clock.start()
        self._loaded.clear()
        self._fingerprint = None
        with session_scope() as session:
            self._sync(session)
        # Catch up only now that every job is loaded: APScheduler fires what comes after each
        # job's load, this covers everything up to the end of the load, and a fire time that
        # both see is recorded once (the unique key on job and fire time).
        now = utcnow()
        with session_scope() as session:
            for job in session.exec(select(BatchJob).where(BatchJob.enabled)).all():
                run = job_runs.catch_up(session=session, job=job, now=now, grace=self.grace)
                if run is not None and run.status == "queued":
                    self.notify()
        # Mail attachments a stopped process stored but did not extract yet.
        extraction_queue.resubmit_pending(source="email")
        self.active = True  # only now: status() must not say active with nothing loaded
        self.ready_at = time.monotonic()
        logger.info(
            "Scheduler ready with %d jobs in %.2f s",
            len(self._loaded),
            self.ready_at - self._started_at,
        )

    def _become_passive(self) -> None:
        if self._clock is not None:
            self._clock.shutdown(wait=False)
            self._clock = None
        if self.active:
            logger.info("Scheduler in %s is passive now", job_runs.WORKER)
        self.active = False
        self.lock.release()

    def _tick(self) -> None:
        with session_scope() as session:
            self._sync(session)
            for run_id in job_runs.due_runs(session=session):
                self._start_run(session, run_id)
        now = time.monotonic()
        if now - self._last_beat >= job_runs.HEARTBEAT_SECONDS:
            self._last_beat = now
            with session_scope() as session:
                job_runs.beat(session=session, run_ids=self._snapshot_in_flight())
                job_runs.abandon_dead_runs(session=session, in_flight=self._snapshot_in_flight())
        if now - self._last_prune >= PRUNE_EVERY_SECONDS:
            self._last_prune = now
            with session_scope() as session:
                job_runs.prune(session=session, keep=self.retention)

    # -- jobs -----------------------------------------------------------------------------
    def _sync(self, session: Session) -> None:
        """Reload jobs when any changed; cheap when nothing did (one aggregate query)."""
        fingerprint = session.exec(
            select(func.count(), func.max(BatchJob.updated_at)).select_from(BatchJob)
        ).one()
        fingerprint = (fingerprint[0], fingerprint[1])
        if fingerprint == self._fingerprint or self._clock is None:
            return
        rows = session.exec(
            select(
                BatchJob.id, BatchJob.updated_at, BatchJob.enabled, BatchJob.cron, BatchJob.timezone
            )
        ).all()
        seen = set()
        for pk, updated_at, enabled, expression, zone in rows:
            seen.add(pk)
            if not enabled:
                self._unload(pk)
            elif self._loaded.get(pk) != updated_at:
                self._clock.add_job(
                    self._fire,
                    trigger=CronTrigger(expression, zone),
                    args=[pk],
                    id=str(pk),
                    replace_existing=True,
                )
                self._loaded[pk] = updated_at
        for pk in set(self._loaded) - seen:
            self._unload(pk)
        self._fingerprint = fingerprint

    def _unload(self, pk: int) -> None:
        if self._loaded.pop(pk, None) is not None and self._clock is not None:
            self._clock.remove_job(str(pk))

    def _fire(self, pk: int) -> None:
        """APScheduler calls this at a fire time: record the run, then start it."""
        with session_scope() as session:
            job = session.get(BatchJob, pk)
            if job is None or not job.enabled:
                return
            scheduled_for = CronTrigger(job.cron, job.timezone).latest_at_or_before(utcnow())
            run = job_runs.record_fire(session=session, job=job, scheduled_for=scheduled_for)
            if run is None:
                return  # this fire was already recorded (another scheduler instance)
            self._start_run(session, run.id)

    # -- runs -----------------------------------------------------------------------------
    def _start_run(self, session: Session, run_id: int) -> None:
        run = job_runs.claim(session=session, run_id=run_id)
        session.commit()  # the claim must be visible before the worker thread reads it
        if run is None:
            return
        with self._in_flight_lock:
            self._in_flight.add(run_id)
        self._executor.submit(self._execute, run_id)

    def _execute(self, run_id: int) -> None:
        try:
            job_runs.execute(run_id)
        except Exception:
            logger.exception("Run #%s could not be recorded", run_id)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(run_id)
            self._wake.set()  # a retry may be due, or a skipped fire can go now

    def _snapshot_in_flight(self) -> set[int]:
        with self._in_flight_lock:
            return set(self._in_flight)


_scheduler: Scheduler | None = None


def start_scheduler() -> Scheduler | None:
    """The process-wide scheduler (active or passive); None when FINAPP_SCHEDULER=false."""
    global _scheduler
    if not get_settings().scheduler_enabled:
        logger.info("Scheduler disabled (FINAPP_SCHEDULER=false)")
        return None
    if _scheduler is None:
        _scheduler = Scheduler().start()
    return _scheduler


def stop_scheduler() -> None:
    global _scheduler
    if _scheduler is not None:
        _scheduler.stop()
        _scheduler = None


def current_scheduler() -> Scheduler | None:
    return _scheduler


def notify_scheduler() -> None:
    """Wake this process's scheduler after a change; other processes see it at their tick."""
    if _scheduler is not None:
        _scheduler.notify()
