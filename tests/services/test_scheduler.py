"""The scheduler in this process: real `Scheduler` instances with a short tick on a real SQLite
database (and PostgreSQL where it matters), with test job types registered in the registry.

Every scheduler a test starts is stopped by the `schedulers` fixture, passed or failed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from finapp import db
from finapp.db import utcnow
from finapp.models import BatchJob, JobRun
from finapp.services import aggregation, batch_jobs, files, job_runs, job_types
from finapp.services.cron import CronTrigger
from finapp.services.scheduler import Scheduler
from finapp.services.scheduler_lock import AdvisoryLock, FileLock, lock_for
from tests.conftest import reload_settings
from tests.postgres import (
    migrate_fresh,
    postgres_url,  # noqa: F401 - fixture
)

TICK = 0.05
YEARLY = "0 0 1 1 *"  # never fires during a test
CSV = (
    b"Date,Description,Category,Account,Amount,Balance\n"
    b"2026-01-02,Salary,Income,Main,2500.00,2500.00\n"
    b"2026-01-05,Rent,Housing,Main,-900.00,1600.00\n"
    b"2026-01-20,Coffee,Food,Main,-3.50,1596.50\n"
)


# -- test job types -------------------------------------------------------------------------------


class Calls:
    """What the test job types did, and a gate that holds `test_sleep` until released."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.counted: list[tuple[str, float]] = []
        self.lock = threading.Lock()


@pytest.fixture
def calls() -> Iterator[Calls]:
    state = Calls()

    def test_sleep(_session: Session, job: BatchJob, log: Any) -> dict[str, Any]:
        seconds = float(job.params.get("sleep", 0))
        log(f"sleeping up to {seconds} s")
        released = state.gate.wait(seconds)
        return {"released": released}

    def test_fail(_session: Session, job: BatchJob, log: Any) -> dict[str, Any]:
        log("about to fail")
        raise RuntimeError(f"boom from {job.job_id}")

    def test_count(_session: Session, job: BatchJob, log: Any) -> dict[str, Any]:
        with state.lock:
            state.counted.append((job.job_id, time.monotonic()))
            count = len(state.counted)
        log(f"counted {count}")
        return {"count": count}

    saved = dict(job_types._HANDLERS)
    job_types.register("test_sleep", test_sleep)
    job_types.register("test_fail", test_fail)
    job_types.register("test_count", test_count)
    try:
        yield state
    finally:
        state.gate.set()  # let any abandoned (timed-out) work finish
        job_types._HANDLERS.clear()
        job_types._HANDLERS.update(saved)


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def schedulers(database: Path, calls: Calls) -> Iterator[Callable[..., Scheduler]]:
    """Start real schedulers; all of them are stopped at the end of the test (before the test
    job types are unregistered)."""
    started: list[Scheduler] = []

    def start(tick: float = TICK, **kwargs: Any) -> Scheduler:
        scheduler = Scheduler(tick=tick, **kwargs)
        started.append(scheduler)
        return scheduler.start()

    try:
        yield start
    finally:
        for scheduler in started:
            scheduler.stop(timeout=5)


def wait_for(predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def wait_active(scheduler: Scheduler, timeout: float = 10) -> Scheduler:
    wait_for(
        lambda: scheduler.active and scheduler.ready_at is not None,
        timeout,
        "the scheduler to be active",
    )
    return scheduler


def make_job(
    job_id: str,
    job_type: str = "test_count",
    *,
    schedule: str = YEARLY,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> int:
    with db.session_scope() as session:
        job = batch_jobs.create_job(
            session=session,
            job_id=job_id,
            job_type=job_type,
            project_id=kwargs.pop("project_id", "acme"),
            schedule=schedule,
            **kwargs,
        )
        if params:
            job.params = {**job.params, **params}
            session.add(job)
        session.flush()
        return job.id


def run_now(job_id: str, scheduler: Scheduler | None = None) -> int:
    with db.session_scope() as session:
        run_id = batch_jobs.run_now(session=session, job_id=job_id).id
    if scheduler is not None:
        scheduler.notify()
    return run_id


def runs_of(job_pk: int) -> list[JobRun]:
    with db.session_scope() as session:
        return list(
            session.exec(
                select(JobRun).where(JobRun.job_pk == job_pk).order_by(col(JobRun.id))
            ).all()
        )


def get_run(run_id: int) -> JobRun:
    with db.session_scope() as session:
        return session.get(JobRun, run_id)


def wait_run(run_id: int, *statuses: str, timeout: float = 10) -> JobRun:
    return wait_for(
        lambda: (r := get_run(run_id)) is not None and r.status in statuses and r,
        timeout,
        f"run #{run_id} to be {'/'.join(statuses)}",
    )


def hourly_fired_minutes_ago(minutes: int = 5) -> tuple[str, datetime]:
    """An hourly schedule whose latest fire was `minutes` (≤ 6) minutes ago, and that fire."""
    now = utcnow()
    expression = f"{(now - timedelta(minutes=minutes)).minute} * * * *"
    latest = CronTrigger(expression, "UTC").latest_at_or_before(now)
    assert timedelta(minutes=minutes - 1) < now - latest <= timedelta(minutes=minutes + 1)
    return expression, latest


def set_last_scheduled_for(job_pk: int, moment: datetime) -> None:
    with db.session_scope() as session:
        job = session.get(BatchJob, job_pk)
        job.last_scheduled_for = moment
        session.add(job)


# -- running: Run Now, failures and retries, timeouts, overlap ------------------------------------


def test_run_now_aggregates_the_project_and_records_its_figures(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    with db.session_scope() as session:
        files.store_file(
            session=session, data=CSV, filename="bank.csv", project_id="acme", source="upload"
        )
    pk = make_job("agg", "aggregation")
    scheduler = wait_active(schedulers())
    run_id = run_now("agg", scheduler)
    run = wait_run(run_id, "completed", "failed")
    assert run.status == "completed", run.error
    assert (run.trigger, run.attempt, run.error) == ("manual", 1, "")
    assert run.result["files_processed"] == 1
    assert run.result["transactions"] == 3
    assert run.result["is_valid"] is True
    assert run.result["totals"]["EUR"] == {"in": 250000, "out": -90350, "net": 159650, "count": 3}
    with db.session_scope() as session:
        stored = aggregation.latest_report(session=session, project_id="acme")
        view = batch_jobs.view(session=session, job_id="agg")
    assert (stored.files_processed, stored.transactions, stored.is_valid) == (1, 3, True)
    assert view.last_result == {"files_processed": 1, "transactions": 3, "is_valid": True}
    assert view.status == "scheduled"
    assert run.worker == job_runs.WORKER
    assert run.started_at <= run.finished_at and run.duration_ms >= 0
    assert run.scheduled_for <= run.started_at
    assert "Aggregating project acme" in run.log and run.log.rstrip().endswith("Completed")
    assert [r.id for r in runs_of(pk)] == [run_id]  # no retry after success


def test_a_job_limited_to_file_ids_aggregates_only_those_files(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    with db.session_scope() as session:
        chosen = files.store_file(
            session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
        ).file.id
        files.store_file(
            session=session,
            data=CSV.replace(b"Coffee", b"Tea").replace(b"Rent", b"Lease"),
            filename="b.csv",
            project_id="acme",
            source="upload",
        )
    make_job("agg", "aggregation", file_ids=[chosen])
    scheduler = wait_active(schedulers())
    run = wait_run(run_now("agg", scheduler), "completed", "failed")
    assert run.status == "completed", run.error
    assert (run.result["files_processed"], run.result["transactions"]) == (1, 3)
    assert f"(files [{chosen}])" in run.log


def test_a_failing_run_records_the_traceback_and_retries_with_exponential_backoff(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    pk = make_job("flaky", "test_fail", max_retries=2, retry_backoff_seconds=1)
    scheduler = wait_active(schedulers())
    run_now("flaky", scheduler)
    wait_for(
        lambda: [r.status for r in runs_of(pk)] == ["failed"] * 3,
        timeout=10,
        what="three failed attempts",
    )
    time.sleep(0.3)  # give a (wrong) fourth attempt a chance to be queued or started
    runs = runs_of(pk)
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert [r.trigger for r in runs] == ["manual", "retry", "retry"]
    assert [r.status for r in runs] == ["failed", "failed", "failed"]
    for run in runs:
        assert run.error.startswith("RuntimeError: boom from flaky")
        assert "Traceback (most recent call last)" in run.error
        assert "test_fail" in run.error  # the traceback reaches into the handler
        assert run.result is None
    # Backoff: retry_backoff_seconds * 2 ** (attempt - 1) after the failure — 1 s, then 2 s.
    first_gap = (runs[1].scheduled_for - runs[0].finished_at).total_seconds()
    second_gap = (runs[2].scheduled_for - runs[1].finished_at).total_seconds()
    assert 0.95 <= first_gap <= 1.3, first_gap
    assert 1.95 <= second_gap <= 2.3, second_gap
    assert runs[1].started_at >= runs[1].scheduled_for  # not started before it was due
    assert runs[2].started_at >= runs[2].scheduled_for
    assert f"Retry #{runs[1].id} queued in 1 s (attempt 2)" in runs[0].log
    assert f"Retry #{runs[2].id} queued in 2 s (attempt 3)" in runs[1].log
    assert "Retry" not in runs[2].log  # retries exhausted: no fourth attempt
    with db.session_scope() as session:
        assert batch_jobs.view(session=session, job_id="flaky").status == "failed"


def test_a_run_over_its_timeout_fails_with_timed_out(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    pk = make_job("slow", "test_sleep", params={"sleep": 8}, timeout_seconds=1, max_retries=0)
    scheduler = wait_active(schedulers())
    run_id = run_now("slow", scheduler)
    run = wait_run(run_id, "completed", "failed", timeout=6)
    assert run.status == "failed"
    assert run.error == "Timed out after 1 s."
    assert 900 <= run.duration_ms < 3000
    assert run.result is None
    assert "Timed out after 1 s." in run.log
    assert [r.id for r in runs_of(pk)] == [run_id]  # max_retries=0: no retry


def test_an_overlapping_run_is_skipped_naming_the_running_run(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    make_job("long", "test_sleep", params={"sleep": 8})
    scheduler = wait_active(schedulers())
    first = run_now("long", scheduler)
    wait_run(first, "running")
    second = run_now("long", scheduler)
    skipped = wait_run(second, "skipped", "running", "completed")
    assert skipped.status == "skipped"
    assert f"run #{first} of this job was still running" in skipped.error
    assert skipped.started_at is None and skipped.finished_at is not None
    assert get_run(first).status == "running"

    calls.gate.set()  # the first run ends...
    done = wait_run(first, "completed", "failed")
    assert done.status == "completed" and done.result == {"released": True}
    third = run_now("long", scheduler)  # ...and the next one runs normally
    assert wait_run(third, "completed", "failed", "skipped").status == "completed"


def test_the_heartbeat_of_a_running_run_advances(
    schedulers: Callable[..., Scheduler], calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(job_runs, "HEARTBEAT_SECONDS", 0.1)
    make_job("long", "test_sleep", params={"sleep": 8})
    scheduler = wait_active(schedulers())
    run_id = run_now("long", scheduler)
    first = wait_run(run_id, "running").heartbeat_at
    later = wait_for(
        lambda: (beat := get_run(run_id).heartbeat_at) > first and beat,
        timeout=3,
        what="a newer heartbeat",
    )
    assert later > first
    assert scheduler.status()["running_runs"] == 1
    calls.gate.set()
    wait_run(run_id, "completed")


# -- APScheduler fires ----------------------------------------------------------------------------


def test_a_fire_records_a_schedule_run_and_the_same_fire_twice_runs_once(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    expression, latest = hourly_fired_minutes_ago(5)
    pk = make_job("hourly", schedule=expression)
    scheduler = wait_active(schedulers())
    assert scheduler.status()["jobs_loaded"] == 1
    clock = scheduler._clock
    assert clock is not None
    clock.modify_job(str(pk), next_run_time=utcnow())  # APScheduler: fire now, once
    wait_for(lambda: [r.status for r in runs_of(pk)] == ["completed"], what="the fired run")
    clock.modify_job(str(pk), next_run_time=utcnow())  # the same fire time again
    time.sleep(0.5)
    runs = runs_of(pk)
    assert len(runs) == 1
    assert (runs[0].trigger, runs[0].scheduled_for) == ("schedule", latest)
    assert len(calls.counted) == 1
    with db.session_scope() as session:
        assert session.get(BatchJob, pk).last_scheduled_for == latest
    # After firing, APScheduler goes back to the job's own schedule.
    assert clock.get_job(str(pk)).next_run_time == latest + timedelta(hours=1)


# -- catch-up after downtime ----------------------------------------------------------------------


def test_catch_up_within_grace_runs_exactly_one_coalesced_catch_up_run(
    database: Path,
    schedulers: Callable[..., Scheduler],
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINAPP_JOB_MISFIRE_GRACE_SECONDS", "3600")
    reload_settings()
    expression, latest = hourly_fired_minutes_ago(5)
    pk = make_job("hourly", schedule=expression)
    set_last_scheduled_for(pk, latest - timedelta(hours=3))  # 3 fire times missed since
    scheduler = wait_active(schedulers())
    run = wait_for(
        lambda: (runs := runs_of(pk)) and runs[0].status in ("completed", "failed") and runs[0],
        what="the catch-up run to finish",
    )
    time.sleep(0.3)
    assert [r.id for r in runs_of(pk)] == [run.id]  # one run for three missed fires
    assert (run.trigger, run.status, run.scheduled_for) == ("catch-up", "completed", latest)
    assert len(calls.counted) == 1
    with db.session_scope() as session:
        assert session.get(BatchJob, pk).last_scheduled_for == latest
    scheduler.stop()
    # A restart finds nothing new to catch up.
    wait_active(schedulers())
    time.sleep(0.3)
    assert len(runs_of(pk)) == 1


def test_catch_up_note_says_how_many_fires_were_missed(session: Session) -> None:
    expression, latest = hourly_fired_minutes_ago(5)
    job = batch_jobs.create_job(
        session=session, job_id="hourly", project_id="acme", schedule=expression
    )
    job.last_scheduled_for = latest - timedelta(hours=3)
    run = job_runs.catch_up(session=session, job=job, now=utcnow(), grace=timedelta(hours=1))
    assert (run.trigger, run.status, run.scheduled_for) == ("catch-up", "queued", latest)
    assert run.log.startswith("3 fire time(s) missed between ")
    assert "Coalesced into this one catch-up run." in run.log
    assert job.last_scheduled_for == latest
    # Called again (another scheduler, a restart): the unique key makes it a no-op.
    job.last_scheduled_for = latest - timedelta(hours=3)
    assert (
        job_runs.catch_up(session=session, job=job, now=utcnow(), grace=timedelta(hours=1)) is None
    )
    assert len(session.exec(select(JobRun)).all()) == 1


def test_a_catch_up_run_still_says_how_many_fires_were_missed_after_it_ran(
    database: Path,
    schedulers: Callable[..., Scheduler],
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINAPP_JOB_MISFIRE_GRACE_SECONDS", "3600")
    reload_settings()
    expression, latest = hourly_fired_minutes_ago(5)
    pk = make_job("hourly", schedule=expression)
    set_last_scheduled_for(pk, latest - timedelta(hours=3))
    wait_active(schedulers())
    run = wait_for(
        lambda: (runs := runs_of(pk)) and runs[0].status == "completed" and runs[0],
        what="the catch-up run to complete",
    )
    # The note catch_up() wrote stays, followed by the execution's own lines.
    assert run.log.startswith("3 fire time(s) missed between ")
    assert "Coalesced into this one catch-up run." in run.log
    assert "Started by" in run.log and run.log.rstrip().endswith("Completed")


def test_catch_up_beyond_grace_records_one_missed_run_and_runs_nothing(
    database: Path,
    schedulers: Callable[..., Scheduler],
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINAPP_JOB_MISFIRE_GRACE_SECONDS", "60")
    reload_settings()
    expression, latest = hourly_fired_minutes_ago(5)  # 5 minutes ago: beyond 60 s
    pk = make_job("hourly", schedule=expression)
    set_last_scheduled_for(pk, latest - timedelta(hours=3))
    scheduler = wait_active(schedulers())
    time.sleep(0.3)
    runs = runs_of(pk)
    assert len(runs) == 1
    missed = runs[0]
    assert (missed.status, missed.trigger, missed.scheduled_for) == ("missed", "schedule", latest)
    assert missed.started_at is None and missed.finished_at is not None
    assert missed.error.startswith("3 fire time(s) missed between ")
    assert "Beyond the 60 s grace period: not run." in missed.error
    assert calls.counted == []  # nothing ran
    with db.session_scope() as session:
        assert batch_jobs.view(session=session, job_id="hourly").status == "failed"
    scheduler.stop()
    wait_active(schedulers())  # a restart does not record the same missed fires again
    time.sleep(0.2)
    assert len(runs_of(pk)) == 1


def test_a_job_paused_during_downtime_is_not_caught_up(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    expression, latest = hourly_fired_minutes_ago(5)
    pk = make_job("hourly", schedule=expression, enabled=False)
    set_last_scheduled_for(pk, latest - timedelta(hours=3))
    scheduler = wait_active(schedulers())
    time.sleep(0.2)
    assert runs_of(pk) == []
    assert scheduler.status()["jobs_loaded"] == 0


# -- crashed runs ---------------------------------------------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_runs_of_a_dead_process_or_with_a_stale_heartbeat_are_abandoned_at_start(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    pk = make_job("crashy")
    now = utcnow()
    dead_worker = f"{socket.gethostname()}:{dead_pid()}"
    with db.session_scope() as session:

        def running(minute: int, worker: str, heartbeat: datetime) -> int:
            run = JobRun(
                job_pk=pk,
                trigger="schedule",
                scheduled_for=datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
                status="running",
                started_at=heartbeat,
                heartbeat_at=heartbeat,
                worker=worker,
            )
            session.add(run)
            session.flush()
            return run.id

        local_dead = running(1, dead_worker, now)  # fresh heartbeat, but its process is gone
        remote_stale = running(2, "other-host:4242", now - timedelta(minutes=5))
        remote_fresh = running(3, "other-host:4243", now)
    wait_active(schedulers())
    dead, stale, fresh = get_run(local_dead), get_run(remote_stale), get_run(remote_fresh)
    assert dead.status == "abandoned"
    assert f"The process that ran it ({dead_worker}) stopped." in dead.error
    assert dead.finished_at is not None
    assert stale.status == "abandoned"
    assert "No heartbeat from other-host:4242 since" in stale.error
    assert "Marked abandoned" in stale.error
    assert fresh.status == "running"  # another host, alive: left alone
    assert fresh.error == ""


def test_abandon_dead_runs_leaves_runs_in_flight_here_alone(session: Session) -> None:
    job = batch_jobs.create_job(session=session, job_id="j", project_id="acme", schedule=YEARLY)
    long_ago = utcnow() - timedelta(hours=1)
    mine = JobRun(
        job_pk=job.id,
        trigger="manual",
        scheduled_for=long_ago,
        status="running",
        heartbeat_at=long_ago,
        worker=job_runs.WORKER,
    )
    orphan = JobRun(
        job_pk=job.id,
        trigger="manual",
        scheduled_for=long_ago + timedelta(seconds=1),
        status="running",
        heartbeat_at=long_ago,
        worker=job_runs.WORKER,
    )
    session.add_all([mine, orphan])
    session.flush()
    assert job_runs.abandon_dead_runs(session=session, in_flight={mine.id}) == [orphan.id]
    assert (mine.status, orphan.status) == ("running", "abandoned")


# -- one active scheduler -------------------------------------------------------------------------


def test_two_schedulers_on_one_data_dir_only_one_is_active_and_the_other_takes_over(
    schedulers: Callable[..., Scheduler], calls: Calls, data_dir: Path
) -> None:
    first, second = schedulers(), schedulers()
    assert isinstance(first.lock, FileLock) and isinstance(second.lock, FileLock)
    assert first.lock is not second.lock
    assert first.lock.path == second.lock.path == data_dir / "scheduler.lock"
    wait_for(lambda: first.active or second.active, what="one active scheduler")
    time.sleep(0.5)  # the other one had time to try the lock too
    assert [first.active, second.active].count(True) == 1
    active, passive = (first, second) if first.active else (second, first)
    assert passive.status()["jobs_loaded"] == 0 and passive.status()["next_fire"] is None

    # Only the active one runs work.
    make_job("counted")
    run = wait_run(run_now("counted", active), "completed")
    assert run.worker == job_runs.WORKER
    assert len(calls.counted) == 1

    active.stop()
    assert not active.active
    started = time.monotonic()
    wait_active(passive, timeout=5)  # active and its jobs loaded
    assert time.monotonic() - started < 5
    assert passive.status()["jobs_loaded"] == 1


def test_a_file_lock_excludes_a_second_lock_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    a, b = FileLock(path), FileLock(path)
    try:
        assert a.acquire() and a.healthy()
        assert a.acquire()  # idempotent for the holder
        assert not b.acquire() and not b.healthy()
        a.release()
        assert not a.healthy()
        assert b.acquire()
        assert path.read_text().strip().isdigit()  # holder's pid, for operators
    finally:
        a.release()
        b.release()


def test_scheduler_status_names_worker_and_lock(
    schedulers: Callable[..., Scheduler], calls: Calls, data_dir: Path
) -> None:
    make_job("one")
    status = wait_active(schedulers()).status()
    assert status["active"] is True
    assert status["worker"] == job_runs.WORKER
    assert status["lock"] == f"file lock {data_dir / 'scheduler.lock'}"
    assert status["jobs_loaded"] == 1
    assert status["running_runs"] == 0
    expected = CronTrigger(YEARLY, "UTC").get_next_fire_time(None, utcnow())
    assert datetime.fromisoformat(status["next_fire"]) == expected


# -- record_fire unique key -----------------------------------------------------------------------


def test_record_fire_twice_for_the_same_fire_returns_none(session: Session) -> None:
    job = batch_jobs.create_job(session=session, job_id="j", project_id="acme", schedule=YEARLY)
    fire = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    first = job_runs.record_fire(session=session, job=job, scheduled_for=fire)
    assert first is not None and first.status == "queued" and first.trigger == "schedule"
    assert job.last_scheduled_for == fire
    assert job_runs.record_fire(session=session, job=job, scheduled_for=fire) is None
    # The same instant written in the job's zone is the same key.
    same = fire.astimezone(ZoneInfo("Europe/Berlin"))
    assert job_runs.record_fire(session=session, job=job, scheduled_for=same) is None
    # The session is still usable after the refused insert (savepoint rolled back only).
    other = job_runs.record_fire(session=session, job=job, scheduled_for=fire + timedelta(days=1))
    assert other is not None
    assert len(session.exec(select(JobRun)).all()) == 2
    # An older fire does not move last_scheduled_for back.
    job_runs.record_fire(session=session, job=job, scheduled_for=fire - timedelta(days=1))
    assert job.last_scheduled_for == fire + timedelta(days=1)


def test_record_fire_from_a_second_session_returns_none(database: Path) -> None:
    fire = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    with db.session_scope() as session:
        job = batch_jobs.create_job(session=session, job_id="j", project_id="acme", schedule=YEARLY)
        assert job_runs.record_fire(session=session, job=job, scheduled_for=fire) is not None
    with db.session_scope() as session:
        job = batch_jobs.get_job(session=session, job_id="j")
        assert job_runs.record_fire(session=session, job=job, scheduled_for=fire) is None
    with db.session_scope() as session:
        assert len(session.exec(select(JobRun)).all()) == 1


# -- retention ------------------------------------------------------------------------------------


def _runs(session: Session, job: BatchJob, statuses: list[str]) -> list[int]:
    ids = []
    for minute, status in enumerate(statuses):
        run = JobRun(
            job_pk=job.id,
            trigger="schedule",
            scheduled_for=datetime(2026, 1, 1, 0, minute, tzinfo=UTC),
            status=status,
        )
        session.add(run)
        session.flush()
        ids.append(run.id)
    return ids


def test_prune_keeps_the_newest_finished_runs_per_job(session: Session) -> None:
    busy = batch_jobs.create_job(session=session, job_id="busy", project_id="acme", schedule=YEARLY)
    quiet = batch_jobs.create_job(
        session=session, job_id="quiet", project_id="acme", schedule=YEARLY
    )
    busy_ids = _runs(
        session,
        busy,
        ["completed", "running", "failed", "skipped", "queued", "missed", "abandoned", "completed"],
    )
    quiet_ids = _runs(session, quiet, ["completed", "failed"])
    assert job_runs.prune(session=session, keep=2) == 4
    session.flush()
    left = {r.id for r in session.exec(select(JobRun)).all()}
    # busy keeps its 2 newest finished runs and everything unfinished; quiet is under the limit.
    assert left == {busy_ids[1], busy_ids[4], busy_ids[6], busy_ids[7], *quiet_ids}
    assert job_runs.prune(session=session, keep=2) == 0


def test_the_scheduler_prunes_to_the_configured_retention(
    database: Path,
    schedulers: Callable[..., Scheduler],
    calls: Calls,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINAPP_JOB_RUN_RETENTION", "3")
    reload_settings()
    with db.session_scope() as session:
        job = batch_jobs.create_job(session=session, job_id="j", project_id="acme", schedule=YEARLY)
        ids = _runs(session, job, ["completed"] * 6)
    wait_active(schedulers())
    wait_for(lambda: len(runs_of(job.id)) == 3, timeout=5, what="pruning")
    assert [r.id for r in runs_of(job.id)] == ids[-3:]


# -- job changes while active ---------------------------------------------------------------------


def test_job_changes_are_loaded_into_apscheduler_after_notify(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    # A long tick: only notify() can make the scheduler see the changes quickly.
    scheduler = wait_active(schedulers(tick=30))
    assert scheduler.status()["jobs_loaded"] == 0

    def loaded() -> int:
        return scheduler.status()["jobs_loaded"]

    def next_fire() -> datetime | None:
        value = scheduler.status()["next_fire"]
        return datetime.fromisoformat(value) if value else None

    make_job("edited", schedule="0 9 * * 1-5", timezone="Europe/Berlin")
    time.sleep(0.3)
    assert loaded() == 0  # not seen without a notify (the tick is 30 s)
    scheduler.notify()
    wait_for(lambda: loaded() == 1, timeout=3, what="the new job to load")
    now = utcnow()
    assert next_fire() == CronTrigger("0 9 * * 1-5", "Europe/Berlin").get_next_fire_time(None, now)

    with db.session_scope() as session:
        batch_jobs.update_job(session=session, job_id="edited", schedule="15 3 1 1 *")
    scheduler.notify()
    expected = CronTrigger("15 3 1 1 *", "Europe/Berlin").get_next_fire_time(None, utcnow())
    wait_for(lambda: next_fire() == expected, timeout=3, what="the new schedule")
    assert loaded() == 1

    with db.session_scope() as session:
        batch_jobs.pause_job(session=session, job_id="edited")
    scheduler.notify()
    wait_for(lambda: loaded() == 0, timeout=3, what="the paused job to unload")
    assert next_fire() is None

    with db.session_scope() as session:
        batch_jobs.resume_job(session=session, job_id="edited")
    scheduler.notify()
    wait_for(lambda: loaded() == 1, timeout=3, what="the resumed job to load")

    make_job("second")
    scheduler.notify()
    wait_for(lambda: loaded() == 2, timeout=3, what="a second job")
    with db.session_scope() as session:
        batch_jobs.delete_job(session=session, job_id="edited")
    scheduler.notify()
    wait_for(lambda: loaded() == 1, timeout=3, what="the deleted job to unload")
    assert next_fire() == CronTrigger(YEARLY, "UTC").get_next_fire_time(None, utcnow())


def test_run_now_is_picked_up_at_once_after_notify(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    make_job("quick")
    scheduler = wait_active(schedulers(tick=30))
    started = time.monotonic()
    wait_run(run_now("quick", scheduler), "completed", timeout=5)
    assert time.monotonic() - started < 5


def test_a_paused_job_still_runs_when_run_now(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    make_job("paused", enabled=False)
    scheduler = wait_active(schedulers())
    assert wait_run(run_now("paused", scheduler), "completed").trigger == "manual"


def test_a_run_of_an_unknown_job_type_fails_with_the_reason(
    schedulers: Callable[..., Scheduler], calls: Calls
) -> None:
    pk = make_job("orphan", max_retries=0)
    with db.session_scope() as session:
        job = session.get(BatchJob, pk)
        job.job_type = "no_such_type"  # e.g. a type whose code was removed
        session.add(job)
    scheduler = wait_active(schedulers())
    run = wait_run(run_now("orphan", scheduler), "completed", "failed")
    assert run.status == "failed"
    assert "No handler for job type 'no_such_type'" in run.error


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def pg_database(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reload_settings()
    assert db.get_engine().dialect.name == "postgresql"
    migrate_fresh(postgres_url)
    return postgres_url


@pytest.mark.postgres
def test_record_fire_is_unique_per_job_and_fire_on_postgresql(pg_database: str) -> None:
    fire = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    with db.session_scope() as session:
        job = batch_jobs.create_job(session=session, job_id="j", project_id="acme", schedule=YEARLY)
        assert job_runs.record_fire(session=session, job=job, scheduled_for=fire) is not None
        assert job_runs.record_fire(session=session, job=job, scheduled_for=fire) is None
        later = job_runs.record_fire(
            session=session, job=job, scheduled_for=fire + timedelta(hours=1)
        )
        assert later is not None  # the session survived the refused insert
    with db.session_scope() as session:
        job = batch_jobs.get_job(session=session, job_id="j")
        same = fire.astimezone(ZoneInfo("Europe/Berlin"))
        assert job_runs.record_fire(session=session, job=job, scheduled_for=same) is None
        assert job.last_scheduled_for == fire + timedelta(hours=1)
    with db.session_scope() as session:
        runs = session.exec(select(JobRun).order_by(col(JobRun.id))).all()
        assert [r.scheduled_for for r in runs] == [fire, fire + timedelta(hours=1)]


@pytest.mark.postgres
def test_advisory_lock_admits_one_holder_on_postgresql(pg_database: str) -> None:
    engine = db.get_engine()
    assert isinstance(lock_for(engine, Path("unused")), AdvisoryLock)
    first, second = AdvisoryLock(engine), AdvisoryLock(engine)
    try:
        assert first.acquire() and first.healthy()
        assert first.acquire()  # idempotent for the holder
        assert not second.acquire() and not second.healthy()
        first.release()
        assert not first.healthy()
        assert second.acquire() and second.healthy()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_schedulers_on_postgresql_elect_one_and_run_work(pg_database: str, calls: Calls) -> None:
    make_job("pg-job")
    first, second = Scheduler(tick=TICK).start(), Scheduler(tick=TICK).start()
    try:
        assert first.status()["lock"] == "PostgreSQL advisory lock"
        wait_for(lambda: first.active or second.active, what="one active scheduler")
        time.sleep(0.5)
        assert [first.active, second.active].count(True) == 1
        active, passive = (first, second) if first.active else (second, first)
        wait_active(active)
        run = wait_run(run_now("pg-job", active), "completed", "failed")
        assert run.status == "completed", run.error
        assert run.started_at.tzinfo is not None and run.started_at <= utcnow()
        active.stop()
        wait_for(lambda: passive.active, timeout=5, what="failover to the other scheduler")
    finally:
        first.stop(timeout=5)
        second.stop(timeout=5)


def test_a_retry_waits_for_a_running_run_instead_of_being_skipped(session: Session) -> None:
    job = batch_jobs.create_job(
        session=session, job_id="busy", project_id="acme", schedule="0 2 * * *"
    )
    running = job_runs.queue_run(session=session, job=job, trigger="manual")
    assert job_runs.claim(session=session, run_id=running.id) is not None
    retry = job_runs.queue_run(session=session, job=job, trigger="retry", attempt=2)
    before = retry.scheduled_for
    assert job_runs.claim(session=session, run_id=retry.id) is None
    session.refresh(retry)
    assert retry.status == "queued"  # still owed
    assert retry.scheduled_for >= before + job_runs.RETRY_WAIT - timedelta(seconds=1)
    manual = job_runs.queue_run(session=session, job=job, trigger="manual")
    assert job_runs.claim(session=session, run_id=manual.id) is None
    session.refresh(manual)
    assert manual.status == "skipped"
    assert f"run #{running.id}" in manual.error
