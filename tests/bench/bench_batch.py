"""Benchmark: the batch-job scheduler, API and page with 10,000 jobs in the database.

    .venv/bin/python -m tests.bench.bench_batch              # BENCH_JOBS=2000 for a smaller run

Measured, each step in its own fresh interpreter on one migrated SQLite data dir:
- scheduler ready: `Scheduler().start()` until it is active with every job loaded (the lock,
  abandoned-run check, catch-up over all jobs, and loading them into APScheduler);
- `GET /api/batch/jobs?limit=50`, first page and the last (offset=9950), median of 20;
- Run Now -> run `running`: `batch_jobs.run_now` + `scheduler.notify()` with an active scheduler
  in the same process, polling the run row every 2 ms; median of 50 runs of 50 different jobs;
- baseline: APScheduler alone, BackgroundScheduler + MemoryJobStore, the same 10,000 schedules as
  `CronTrigger.from_crontab(..., timezone=...)`, time to add them all and start;
- the jobs page: the real app (scripts/run.sh) on that data dir, headless Chromium, time from
  navigation to `/batch-jobs` until `#jobs-table` is visible.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
JOBS = int(os.environ.get("BENCH_JOBS", "10000"))
SCHEDULES = 40
API_REPEATS = 20
RUN_NOW_REPEATS = 50
PAGE_REPEATS = 5
POLL_S = 0.002
SLEEP_JOB_S = 0.2
TARGET_READY_S = 2.0
TARGET_RUN_NOW_MS = 100.0
ADMIN = "bench-admin"
ADMIN_PASSWORD = "bench-Scheduler-passphrase-2026"
PROJECT = "bench"
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
TEMPLATES = (
    "{m} {h} * * *",
    "{m} {h} * * mon-fri",
    "{m} {h} 1 * *",
    "{m} {h} * * sun",
    "{m} {h},{h2} * * *",
    "{m} {h} 15 * *",
    "{m} {h} * * sat,sun",
    "{m} {h} 1 jan,apr,jul,oct *",
    "*/15 {h} * * *",
    "{m} {h}-{h3} * * mon-fri",
)
CHROMIUM = "/usr/bin/chromium"
APP_START_TIMEOUT_S = 240


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def schedules() -> list[tuple[str, str]]:
    """A few dozen distinct (cron, zone) pairs, none firing within the next 30 minutes (a fire
    of hundreds of jobs at once would disturb the measurements)."""
    from finapp.services import cron

    rng = random.Random(20260101)
    soon = datetime.now(UTC) + timedelta(minutes=30)
    found: dict[tuple[str, str], None] = {}
    while len(found) < SCHEDULES:
        h = rng.randrange(24)
        expression = rng.choice(TEMPLATES).format(
            m=rng.randrange(60), h=h, h2=(h + 12) % 24, h3=min(23, h + 3)
        )
        zone = rng.choice(ZONES)
        if cron.next_runs(expression, zone, 1)[0] > soon:
            found[(expression, zone)] = None
    return list(found)


def job_id(index: int) -> str:
    return f"job-{index:05d}"


# -- steps, each run in its own interpreter ----------------------------------------------------
def step_seed(_data_dir: Path) -> dict[str, Any]:
    from sqlalchemy import insert

    from finapp.db import session_scope, utcnow
    from finapp.manage import migrate
    from finapp.models import BatchJob, User
    from finapp.services.files import ensure_project
    from finapp.services.passwords import hash_password

    migrate()
    pairs = schedules()
    started = time.perf_counter()
    now = utcnow()
    rows = [
        {
            "job_id": job_id(i),
            "job_type": "aggregation",
            "project_id": PROJECT,
            "cron": pairs[i % len(pairs)][0],
            "timezone": pairs[i % len(pairs)][1],
            "enabled": True,
            "params": {},
            "timeout_seconds": 3600,
            "max_retries": 0,
            "retry_backoff_seconds": 60,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(JOBS)
    ]
    with session_scope() as session:
        ensure_project(session=session, project_id=PROJECT)
        session.add(User(username=ADMIN, password_hash=hash_password(ADMIN_PASSWORD)))
        session.flush()
        session.execute(insert(BatchJob), rows)
    return {"seconds": time.perf_counter() - started, "jobs": JOBS, "schedules": len(pairs)}


def step_ready(_data_dir: Path) -> dict[str, Any]:
    from finapp.services.scheduler import Scheduler

    return time_ready(Scheduler)


def step_ready_after_downtime(data_dir: Path) -> dict[str, Any]:
    """The same start on a copy of the database where every job last fired 24 h ago: the
    scheduler records each job's missed fires (catch-up run or `missed` record) before ready."""
    import sqlite3

    from sqlalchemy import update
    from sqlmodel import func, select

    from finapp import db
    from finapp.models import BatchJob, JobRun
    from finapp.services.scheduler import Scheduler
    from finapp.settings import get_settings

    copy = data_dir.parent / "downtime"
    copy.mkdir(exist_ok=True)
    with (
        sqlite3.connect(data_dir / "finapp.db") as source,
        sqlite3.connect(copy / "finapp.db") as target,
    ):
        source.backup(target)
    os.environ["FINAPP_DATA_DIR"] = str(copy)
    get_settings.cache_clear()
    db.reset_engine()
    with db.session_scope() as session:
        session.execute(
            update(BatchJob).values(last_scheduled_for=db.utcnow() - timedelta(hours=24))
        )
    figures = time_ready(Scheduler)
    with db.session_scope() as session:
        figures["runs"] = {
            "missed records": session.exec(
                select(func.count()).select_from(JobRun).where(JobRun.status == "missed")
            ).one(),
            "catch-up runs": session.exec(
                select(func.count()).select_from(JobRun).where(JobRun.trigger == "catch-up")
            ).one(),
        }
    return figures


def time_ready(scheduler_class: type) -> dict[str, Any]:
    started = time.perf_counter()
    scheduler = scheduler_class().start()
    while not (scheduler.ready_at and scheduler.active and len(scheduler._loaded) >= JOBS):
        if time.perf_counter() - started > 120:
            raise RuntimeError(f"scheduler not ready in 120 s: {scheduler.status()}")
        time.sleep(0.005)
    ready = time.perf_counter() - started
    status_started = time.perf_counter()
    status = scheduler.status()
    status_ms = (time.perf_counter() - status_started) * 1000
    scheduler.stop()
    return {
        "seconds": ready,
        "jobs_loaded": status["jobs_loaded"],
        "active": status["active"],
        "status_ms": status_ms,
        "peak_rss_mb": peak_rss_mb(),
    }


def step_api(_data_dir: Path) -> dict[str, Any]:
    from fastapi.testclient import TestClient
    from sqlmodel import select

    from finapp.api.app import create_api
    from finapp.db import session_scope
    from finapp.models import User
    from finapp.services.api_tokens import issue_access_token

    with session_scope() as session:
        user = session.exec(select(User).where(User.username == ADMIN)).one()
        token = issue_access_token(session=session, user=user)[0].token
    headers = {"Authorization": f"Bearer {token}"}
    figures: dict[str, Any] = {}
    with TestClient(create_api()) as client:
        for name, offset in (("first_page", 0), ("last_page", JOBS - 50)):
            url = f"/api/batch/jobs?limit=50&offset={offset}"
            client.get(url, headers=headers)  # warm-up
            times = []
            for _ in range(API_REPEATS):
                started = time.perf_counter()
                response = client.get(url, headers=headers)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
            body = response.json()
            figures[name] = {
                "median_ms": statistics.median(times),
                "max_ms": max(times),
                "items": len(body["jobs"]),
                "total": body["total"],
            }
    return figures


def step_run_now(_data_dir: Path) -> dict[str, Any]:
    from sqlalchemy import update
    from sqlmodel import col, select

    from finapp.db import session_scope
    from finapp.models import BatchJob, JobRun
    from finapp.services import batch_jobs
    from finapp.services.job_types import register
    from finapp.services.scheduler import Scheduler

    def sleep_briefly(*_: Any) -> dict[str, Any]:
        time.sleep(SLEEP_JOB_S)
        return {"slept": SLEEP_JOB_S}

    register("bench_sleep", sleep_briefly)
    chosen = [job_id(i) for i in range(0, JOBS, JOBS // RUN_NOW_REPEATS)][:RUN_NOW_REPEATS]
    with session_scope() as session:  # updated_at untouched: no reload is triggered by this
        session.execute(
            update(BatchJob).where(col(BatchJob.job_id).in_(chosen)).values(job_type="bench_sleep")
        )
    scheduler = Scheduler().start()
    deadline = time.monotonic() + 120
    while not (scheduler.ready_at and scheduler.active):
        if time.monotonic() > deadline:
            raise RuntimeError("scheduler not ready in 120 s")
        time.sleep(0.01)
    latencies = []
    statuses = []
    for name in chosen:
        started = time.perf_counter()
        with session_scope() as session:
            run_id = batch_jobs.run_now(session=session, job_id=name).id
        scheduler.notify()
        while True:
            with session_scope() as session:
                status = session.get(JobRun, run_id).status
            if status != "queued" or time.perf_counter() - started > 10:
                break
            time.sleep(POLL_S)
        latencies.append((time.perf_counter() - started) * 1000)
        statuses.append(status)
    deadline = time.monotonic() + 30
    while scheduler.status()["running_runs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    with session_scope() as session:
        final = list(session.exec(select(JobRun.status)).all())
    scheduler.stop()
    return {
        "median_ms": statistics.median(latencies),
        "p90_ms": statistics.quantiles(latencies, n=10)[-1],
        "max_ms": max(latencies),
        "reached_running": sum(s in ("running", "completed") for s in statuses),
        "other_statuses": sorted({s for s in statuses if s not in ("running", "completed")}),
        "completed": final.count("completed"),
    }


def step_baseline(data_dir: Path) -> dict[str, Any]:
    import sqlite3

    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    connection = sqlite3.connect(data_dir / "finapp.db")
    read_started = time.perf_counter()
    rows = connection.execute("SELECT id, cron, timezone FROM batch_job").fetchall()
    read_s = time.perf_counter() - read_started
    connection.close()
    started = time.perf_counter()
    clock = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone="UTC")
    for pk, expression, zone in rows:
        clock.add_job(
            print, CronTrigger.from_crontab(expression, timezone=zone), args=[pk], id=str(pk)
        )
    added = time.perf_counter() - started
    clock.start()
    total = time.perf_counter() - started
    jobs = len(clock.get_jobs())
    clock.shutdown(wait=False)
    return {"seconds": total, "add_s": added, "read_s": read_s, "jobs": jobs}


def step(which: str, data_dir: Path) -> dict[str, Any]:
    steps = {
        "seed": step_seed,
        "ready": step_ready,
        "ready-downtime": step_ready_after_downtime,
        "api": step_api,
        "run-now": step_run_now,
        "baseline": step_baseline,
    }
    return steps[which](data_dir)


def measure(which: str, data_dir: Path) -> dict[str, Any]:
    """Run one step in a fresh interpreter and return its JSON figures."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINAPP_", "DATABASE_URL", "JWT_SECRET_KEY"))
    }
    env.update(FINAPP_DATA_DIR=str(data_dir), BENCH_JOBS=str(JOBS))
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_batch", which, str(data_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"step {which} failed:\n{result.stdout}\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- the jobs page in the real app -------------------------------------------------------------
def page_exists() -> bool:
    pages = ROOT / "finapp" / "pages"
    return any("jobs-table" in p.read_text() for p in pages.glob("*.py"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure_page(data_dir: Path) -> dict[str, Any]:
    """Start the real app on the data dir, sign in, and time /batch-jobs until #jobs-table."""
    if not page_exists():
        return {"skipped": "not measured: jobs page not found (no #jobs-table in finapp/pages)"}
    if not Path(CHROMIUM).exists():
        return {"skipped": f"not measured: {CHROMIUM} is missing"}
    import httpx
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINAPP_", "DATABASE_URL", "JWT_SECRET_KEY"))
    }
    env.update(
        PORT=str(port),
        FINAPP_HOST="127.0.0.1",
        FINAPP_DATA_DIR=str(data_dir),
        FINAPP_ADMIN_USERNAME=ADMIN,
        FINAPP_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    log_path = data_dir.parent / "app.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while True:
            if process.poll() is not None or time.perf_counter() - started > APP_START_TIMEOUT_S:
                return {"skipped": f"not measured: app did not start ({log_path})"}
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        app_start_s = time.perf_counter() - started
        token = httpx.post(
            f"{base_url}/api/auth/token",
            data={"username": ADMIN, "password": ADMIN_PASSWORD},
            timeout=10,
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            health = httpx.get(f"{base_url}/api/batch/health", headers=headers, timeout=30).json()
            local = health.get("this_process") or {}
            if local.get("active") and local.get("jobs_loaded") == JOBS:
                break
            time.sleep(0.25)
        scheduler_in_app_s = time.perf_counter() - started
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(30_000)
            page.goto(f"{base_url}/login")
            page.fill("#username", ADMIN)
            page.fill("#password", ADMIN_PASSWORD)
            page.click("#login-submit")
            page.wait_for_url(lambda url: "/login" not in url)
            times = []
            try:
                for _ in range(PAGE_REPEATS):
                    page.goto(f"{base_url}/")
                    page.wait_for_load_state("networkidle")
                    navigation = time.perf_counter()
                    page.goto(f"{base_url}/batch-jobs")
                    page.wait_for_selector("#jobs-table", state="visible")
                    times.append((time.perf_counter() - navigation) * 1000)
                rows = page.locator("#jobs-table tbody tr").count()
            except PlaywrightError as exc:
                return {"skipped": f"not measured: jobs page not found ({str(exc)[:200]})"}
            finally:
                browser.close()
        return {
            "first_ms": times[0],
            "median_ms": statistics.median(times),
            "rows": rows,
            "app_start_s": app_start_s,
            "scheduler_in_app_s": scheduler_in_app_s,
            "app_health": local,
        }
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        seed = measure("seed", data_dir)
        print(
            f"seeded {seed['jobs']:,} jobs over {seed['schedules']} distinct schedules "
            f"in {seed['seconds']:.2f} s"
        )
        ready = measure("ready", data_dir)
        api = measure("api", data_dir)
        run_now = measure("run-now", data_dir)
        baseline = measure("baseline", data_dir)
        downtime = measure("ready-downtime", data_dir)
        page = measure_page(data_dir)

    rows = [
        (
            "scheduler ready (start -> active, all loaded)",
            f"{ready['seconds']:.2f} s",
            f"<= {TARGET_READY_S:.0f} s",
            "ok" if ready["seconds"] <= TARGET_READY_S else "MISSED",
        ),
        (
            f"  baseline: APScheduler add {JOBS:,} from_crontab + start",
            f"{baseline['seconds']:.2f} s",
            "",
            f"add {baseline['add_s']:.2f} s",
        ),
        (
            "  after 24 h downtime (catch-up of every job)",
            f"{downtime['seconds']:.2f} s",
            f"<= {TARGET_READY_S:.0f} s",
            ("ok: " if downtime["seconds"] <= TARGET_READY_S else "MISSED: ")
            + ", ".join(f"{n} {what}" for what, n in downtime["runs"].items()),
        ),
        (
            f"Run Now -> running, median of {RUN_NOW_REPEATS}",
            f"{run_now['median_ms']:.1f} ms",
            f"<= {TARGET_RUN_NOW_MS:.0f} ms",
            "ok" if run_now["median_ms"] <= TARGET_RUN_NOW_MS else "MISSED",
        ),
        ("  p90 / max", f"{run_now['p90_ms']:.1f} / {run_now['max_ms']:.1f} ms", "", ""),
        (
            f"GET /api/batch/jobs?limit=50, median of {API_REPEATS}",
            f"{api['first_page']['median_ms']:.1f} ms",
            "",
            f"{api['first_page']['items']} of {api['first_page']['total']:,}",
        ),
        (
            f"GET /api/batch/jobs?limit=50&offset={JOBS - 50}",
            f"{api['last_page']['median_ms']:.1f} ms",
            "",
            f"{api['last_page']['items']} items",
        ),
        ("scheduler.status() with all jobs loaded", f"{ready['status_ms']:.1f} ms", "", ""),
    ]
    if "skipped" in page:
        rows.append(("jobs page: navigation -> #jobs-table", page["skipped"], "", ""))
    else:
        rows.append(
            (
                "jobs page: navigation -> #jobs-table visible",
                f"{page['first_ms']:.0f} ms",
                "",
                f"median of {PAGE_REPEATS}: {page['median_ms']:.0f} ms, {page['rows']} rows",
            )
        )
        rows.append(
            (
                "  app start (run.sh) -> serving / scheduler loaded",
                f"{page['app_start_s']:.1f} / {page['scheduler_in_app_s']:.1f} s",
                "",
                "",
            )
        )
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'measure':<{width}}{'value':>16}  {'target':<10}{'note'}")
    for name, value, target, note in rows:
        if value.startswith("not measured"):
            print(f"{name:<{width}}{value}")
        else:
            print(f"{name:<{width}}{value:>16}  {target:<10}{note}")
    print(
        f"\nrun-now: {run_now['reached_running']}/{RUN_NOW_REPEATS} reached running "
        f"(others: {run_now['other_statuses'] or 'none'}), {run_now['completed']} completed; "
        f"scheduler process peak RSS {ready['peak_rss_mb']:.0f} MB"
    )
    return {
        "seed": seed,
        "ready": ready,
        "api": api,
        "run_now": run_now,
        "baseline": baseline,
        "downtime": downtime,
        "page": page,
    }


def test_batch_scheduler_benchmark() -> None:
    figures = main()
    assert figures["ready"]["jobs_loaded"] == JOBS
    assert figures["ready"]["active"] is True
    assert figures["api"]["first_page"] == {**figures["api"]["first_page"], "items": 50}
    assert figures["api"]["first_page"]["total"] == JOBS
    assert figures["api"]["last_page"]["items"] == 50
    assert figures["run_now"]["reached_running"] == RUN_NOW_REPEATS
    assert figures["baseline"]["jobs"] == JOBS


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(step(sys.argv[1], Path(sys.argv[2])), default=str))
    else:
        main()
