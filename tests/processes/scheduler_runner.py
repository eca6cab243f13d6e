"""A scheduler process for the multi-process tests: `python -m tests.processes.scheduler_runner`.

Reads FINAPP_DATA_DIR / DATABASE_URL from the environment, applies the migrations, registers the
test job types, starts `Scheduler(tick=0.2)` and prints `READY <pid> active=<bool>` on stdout
each time its active state changes (active=True once it is active and has loaded the jobs).
Runs until SIGTERM or SIGINT, then stops the scheduler and prints `STOPPED <pid>`.

SCHEDULER_RUNNER_LOAD_DELAY=<seconds> delays the first job load (see `slow_first_load`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from sqlmodel import Session, col, select

from finapp.models import BatchJob, JobRun
from finapp.services.job_types import JobHandler, RunLog, register

POLL_SECONDS = 0.05


def run_sleep(_session: Session, job: BatchJob, log: RunLog) -> dict[str, Any]:
    """Sleeps `params["seconds"]` (a long-running run to kill mid-way)."""
    seconds = float(job.params.get("seconds", 1))
    log(f"sleeping {seconds} s")
    time.sleep(seconds)
    return {"slept": seconds}


def run_record(session: Session, job: BatchJob, log: RunLog) -> dict[str, Any]:
    """Appends `<pid> <scheduled_for>` to the file `params["path"]` (O_APPEND: one write, one
    line, even with several writers)."""
    run = session.exec(
        select(JobRun)
        .where(JobRun.job_pk == job.id, JobRun.status == "running")
        .order_by(col(JobRun.id).desc())
    ).first()
    when = run.scheduled_for if run is not None else job.last_scheduled_for
    stamp = when.isoformat() if when is not None else "unknown"
    line = f"{os.getpid()} {stamp}\n".encode()
    fd = os.open(job.params["path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    log(f"recorded {stamp}")
    return {}


TEST_JOB_TYPES: dict[str, JobHandler] = {"test_sleep": run_sleep, "test_record": run_record}


def register_test_types() -> None:
    for name, handler in TEST_JOB_TYPES.items():
        register(name, handler)


def say(message: str) -> None:
    print(message, flush=True)


def slow_first_load(scheduler_class: type, seconds: float) -> None:
    """Test instrumentation (SCHEDULER_RUNNER_LOAD_DELAY): the first job load, which follows the
    catch-up when the scheduler becomes active, starts `seconds` later, as a load of many
    thousand jobs would. Prints `LOADING <pid> <unix time>` when the delay begins."""
    original = scheduler_class._sync
    delayed: list[bool] = []

    def _sync(self: Any, session: Session) -> None:
        if not delayed:
            delayed.append(True)
            say(f"LOADING {os.getpid()} {time.time():.3f}")
            time.sleep(seconds)
        original(self, session)

    scheduler_class._sync = _sync


def main() -> int:
    from finapp.manage import migrate
    from finapp.services.scheduler import Scheduler

    migrate()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {os.getpid()} %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    register_test_types()
    delay = float(os.environ.get("SCHEDULER_RUNNER_LOAD_DELAY", "0"))
    if delay > 0:
        slow_first_load(Scheduler, delay)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    scheduler = Scheduler(tick=0.2).start()
    pid = os.getpid()
    say(f"STARTED {pid}")
    shown: bool | None = None
    while not stop.is_set():
        active = scheduler.active and scheduler.ready_at is not None
        if active != shown:
            shown = active
            say(f"READY {pid} active={active}")
        stop.wait(POLL_SECONDS)
    scheduler.stop()
    say(f"STOPPED {pid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
