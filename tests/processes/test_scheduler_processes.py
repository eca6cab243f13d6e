"""Several real scheduler processes on one database: one is active, each fire runs once, a
killed leader is replaced within seconds, a run killed mid-way is marked abandoned, and fires
missed while no scheduler ran are caught up or recorded, never silently lost.

Some tests wait for real minute boundaries (cron has minute resolution): the SQLite two-process
test takes one to two and a quarter minutes, the initial-load test up to about one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cronsim import CronSim
from sqlmodel import col, select

from finapp.db import session_scope
from finapp.models import BatchJob, JobRun
from finapp.services import batch_jobs
from finapp.services.scheduler import PASSIVE_RETRY_SECONDS
from tests.conftest import reload_settings
from tests.postgres import (
    migrate_fresh,
    postgres_url,  # noqa: F401 - fixture
)
from tests.processes.conftest import Runner, StartRunner

FAILOVER_LIMIT_S = 5.0
NEVER = "0 0 1 1 *"  # once a year: a job that only runs when asked to


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def record_lines(path: Path) -> list[tuple[int, datetime]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        pid, stamp = line.split(" ", 1)
        lines.append((int(pid), utc(datetime.fromisoformat(stamp))))
    return lines


def runs_of(job_id: str) -> list[JobRun]:
    with session_scope() as session:
        job = session.exec(select(BatchJob).where(BatchJob.job_id == job_id)).one()
        return list(
            session.exec(select(JobRun).where(JobRun.job_pk == job.id).order_by(col(JobRun.id)))
        )


def create_job(
    job_id: str,
    schedule: str,
    job_type: str,
    params: dict,
    last_scheduled_for: datetime | None = None,
) -> None:
    with session_scope() as session:
        job = batch_jobs.create_job(
            session=session,
            job_id=job_id,
            project_id="processes",
            schedule=schedule,
            job_type=job_type,
            timezone="UTC",
        )
        job.params = params
        job.last_scheduled_for = last_scheduled_for
        session.add(job)


def start_pair(start_runner: StartRunner, **env: str) -> tuple[Runner, Runner]:
    """Two runners started together; returns (active, passive) once one is active and the other
    has had two chances to take the lock and stayed passive."""
    first, second = start_runner(**env), start_runner(**env)
    first.wait_started()
    second.wait_started()
    wait_until(lambda: first.active or second.active, 30, "one runner active")
    time.sleep(2 * PASSIVE_RETRY_SECONDS + 0.5)
    states = {first.pid: first.active, second.pid: second.active}
    assert sorted(states.values()) == [False, True], f"exactly one active expected: {states}"
    return (first, second) if first.active else (second, first)


def fail_over(active: Runner, passive: Runner) -> float:
    """SIGKILL the active runner's process group; the passive one must take over in time."""
    killed = time.monotonic()
    active.kill()
    passive.wait_active(timeout=FAILOVER_LIMIT_S + 5)
    took = passive.active_since - killed
    print(f"failover: runner {passive.pid} active {took:.2f} s after SIGKILL of {active.pid}")
    assert took <= FAILOVER_LIMIT_S, f"failover took {took:.2f} s"
    return took


def test_two_processes_on_sqlite_fire_each_minute_once_and_fail_over(
    database: Path, tmp_path: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    started = time.monotonic()
    active, passive = start_pair(start_runner)
    record = tmp_path / "fires.txt"

    # Create the job at least ~10 s before a minute boundary so the active scheduler has
    # loaded it in time (it syncs every 0.2 s); the first fire is that boundary.
    now = datetime.now(UTC)
    if now.second > 50:
        time.sleep(62 - now.second - now.microsecond / 1e6)
    create_job("every-minute", "* * * * *", "test_record", {"path": str(record)})
    first_fire = next_minute(datetime.now(UTC))

    wait_until(lambda: record_lines(record), 70, "first fire recorded", interval=0.2)
    time.sleep(2)  # a duplicate, if any, would show up by now
    assert record_lines(record) == [(active.pid, first_fire)]
    [run] = runs_of("every-minute")
    assert (run.trigger, run.status, utc(run.scheduled_for)) == (
        "schedule",
        "completed",
        first_fire,
    )
    assert run.worker.endswith(f":{active.pid}")
    assert passive.active is False

    fail_over(active, passive)

    second_fire = first_fire + timedelta(minutes=1)
    wait_until(lambda: len(record_lines(record)) >= 2, 75, "second fire recorded", interval=0.2)
    time.sleep(2)
    assert record_lines(record) == [(active.pid, first_fire), (passive.pid, second_fire)]
    runs = runs_of("every-minute")
    assert [(r.status, utc(r.scheduled_for)) for r in runs] == [
        ("completed", first_fire),
        ("completed", second_fire),
    ]
    assert runs[1].worker.endswith(f":{passive.pid}")
    print(f"sqlite two-process test took {time.monotonic() - started:.0f} s")


@pytest.mark.postgres
def test_two_processes_on_postgresql_one_active_runs_once_and_fail_over(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    start_runner: StartRunner,
    test_job_types: None,
) -> None:
    """PostgreSQL: the advisory lock picks one leader; a queued run is executed by it alone;
    after SIGKILL of the leader the other process takes over and runs the next one."""
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reload_settings()
    migrate_fresh(postgres_url)

    active, passive = start_pair(start_runner, DATABASE_URL=postgres_url)
    record = tmp_path / "runs.txt"
    create_job("pg-manual", NEVER, "test_record", {"path": str(record)})

    def run_now_and_wait(count: int) -> None:
        with session_scope() as session:
            batch_jobs.run_now(session=session, job_id="pg-manual")
        wait_until(lambda: len(record_lines(record)) >= count, 15, f"run {count} recorded")
        wait_until(
            lambda: all(r.status == "completed" for r in runs_of("pg-manual")), 10, "completed"
        )

    run_now_and_wait(1)
    time.sleep(1.5)
    assert [pid for pid, _ in record_lines(record)] == [active.pid]

    fail_over(active, passive)
    run_now_and_wait(2)
    time.sleep(1.5)
    assert [pid for pid, _ in record_lines(record)] == [active.pid, passive.pid]
    runs = runs_of("pg-manual")
    assert [(r.trigger, r.status) for r in runs] == [("manual", "completed")] * 2
    assert [r.worker.rpartition(":")[2] for r in runs] == [str(active.pid), str(passive.pid)]


def test_run_killed_mid_way_is_abandoned_after_restart(
    database: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    first = start_runner()
    first.wait_active()
    create_job("sleeper", NEVER, "test_sleep", {"seconds": 60})
    with session_scope() as session:
        run_id = batch_jobs.run_now(session=session, job_id="sleeper").id

    def run() -> JobRun:
        with session_scope() as session:
            return session.get(JobRun, run_id)

    wait_until(lambda: run().status == "running", 15, "run is running", interval=0.05)
    assert run().worker.endswith(f":{first.pid}")

    first.kill()
    restarted = time.monotonic()
    second = start_runner()
    second.wait_active()
    wait_until(lambda: run().status == "abandoned", 5, "run abandoned after restart")
    took = time.monotonic() - restarted
    print(f"abandoned {took:.2f} s after the new runner was started")
    dead = run()
    assert f":{first.pid})" in dead.error, dead.error
    assert "stopped" in dead.error, dead.error
    assert dead.finished_at is not None
    time.sleep(1)  # nothing re-runs or retries it
    assert [r.status for r in runs_of("sleeper")] == ["abandoned"]


def fires_between(expression: str, start: datetime, end: datetime) -> list[datetime]:
    found = []
    for moment in CronSim(expression, start):
        if moment > end:
            return found
        found.append(moment)


def missed_note(text: str) -> tuple[int, datetime, datetime]:
    """(count, first, latest) from '<n> fire time(s) missed between <first> and <latest> …'."""
    head, _, rest = text.partition(" fire time(s) missed between ")
    first, _, rest = rest.partition(" and ")
    latest = rest.split(" ", 1)[0]
    return int(head.split()[-1]), datetime.fromisoformat(first), datetime.fromisoformat(latest)


def stable_minute() -> datetime:
    """The current minute, with at least 15 s of it left (a catch-up computed by a runner
    started now sees the same fire times as this test)."""
    now = datetime.now(UTC)
    if now.second > 45:
        time.sleep(61 - now.second - now.microsecond / 1e6)
        now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0)


def test_fires_missed_while_stopped_are_caught_up_once_at_start(
    database: Path, tmp_path: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    """Fires missed while no scheduler ran: the latest, within the grace period, becomes one
    catch-up run (executed once); older than the grace period, one `missed` record."""
    minute = stable_minute()
    record = tmp_path / "catch-up.txt"
    create_job(
        "minutely",
        "* * * * *",
        "test_record",
        {"path": str(record)},
        last_scheduled_for=minute - timedelta(minutes=5),
    )
    yearly_since = minute - timedelta(days=2 * 365 + 3)
    create_job("yearly", "0 0 1 1 *", "test_record", {"path": str(record)}, yearly_since)
    yearly_missed = fires_between("0 0 1 1 *", yearly_since, minute)

    runner = start_runner()
    runner.wait_active()
    wait_until(lambda: record_lines(record), 10, "catch-up run recorded")
    time.sleep(1.5)

    [caught_up] = runs_of("minutely")
    assert (caught_up.trigger, caught_up.status) == ("catch-up", "completed")
    assert utc(caught_up.scheduled_for) == minute
    assert record_lines(record) == [(runner.pid, minute)]

    [missed] = runs_of("yearly")
    assert (missed.trigger, missed.status) == ("schedule", "missed")
    assert utc(missed.scheduled_for) == yearly_missed[-1]
    assert missed_note(missed.error) == (len(yearly_missed), yearly_missed[0], yearly_missed[-1])
    assert "grace period: not run" in missed.error


def test_catch_up_run_keeps_its_note_after_it_ran(
    database: Path, tmp_path: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    minute = stable_minute()
    record = tmp_path / "catch-up.txt"
    create_job(
        "minutely",
        "* * * * *",
        "test_record",
        {"path": str(record)},
        last_scheduled_for=minute - timedelta(minutes=5),
    )
    runner = start_runner()
    runner.wait_active()
    wait_until(lambda: [r.status for r in runs_of("minutely")] == ["completed"], 10, "catch-up ran")
    [caught_up] = runs_of("minutely")
    assert "Completed" in caught_up.log
    assert "Coalesced into this one catch-up run" in caught_up.log, caught_up.log
    assert "5 fire time(s) missed" in caught_up.log, caught_up.log


def test_missed_note_counts_every_missed_fire_after_a_long_stop(
    database: Path, tmp_path: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    minute = stable_minute()
    since = minute - timedelta(days=1)
    create_job(
        "minutely",
        "* * * * *",
        "test_record",
        {"path": str(tmp_path / "x.txt")},
        last_scheduled_for=since,
    )
    # No grace: the latest missed fire is recorded as `missed` (its note is kept in `error`).
    runner = start_runner(FINAPP_JOB_MISFIRE_GRACE_SECONDS="0")
    runner.wait_active()
    [missed] = runs_of("minutely")
    assert missed.status == "missed"
    assert utc(missed.scheduled_for) == minute
    assert missed_note(missed.error) == (24 * 60, since + timedelta(minutes=1), minute)


def test_fire_during_the_initial_job_load_is_not_lost(
    database: Path, tmp_path: Path, start_runner: StartRunner, test_job_types: None
) -> None:
    """The runner's first job load is delayed (standing in for a load of many jobs) so that a
    minute boundary passes after the catch-up and before the job is loaded."""
    now = datetime.now(UTC)
    boundary = next_minute(now)
    if (boundary - now).total_seconds() < 8:
        boundary += timedelta(minutes=1)
    record = tmp_path / "fires.txt"
    create_job(
        "minutely", "* * * * *", "test_record", {"path": str(record)}, last_scheduled_for=now
    )
    delay = (boundary - datetime.now(UTC)).total_seconds() + 2
    runner = start_runner(SCHEDULER_RUNNER_LOAD_DELAY=f"{delay:.2f}")
    runner.wait_for(lambda r: any(x.startswith("LOADING") for x in r.lines), 30, "LOADING")
    loading = next(x for x in runner.lines if x.startswith("LOADING"))
    loading_at = datetime.fromtimestamp(float(loading.split()[2]), UTC)
    if loading_at >= boundary:
        pytest.skip(f"the runner started too late ({loading_at}) to straddle {boundary}")
    runner.wait_active(timeout=delay + 30)
    assert datetime.now(UTC) > boundary
    # Correct: the fire at `boundary` runs (late) or is recorded; lost: nothing until the next.
    wait_until(
        lambda: any(utc(r.scheduled_for) == boundary for r in runs_of("minutely")),
        8,
        f"a run for the fire at {boundary:%H:%M}",
    )
