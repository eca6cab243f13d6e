"""The real app (scripts/run.sh, production mode) stopped and started again on the same data dir:
jobs and their schedule survive, the scheduler comes back active, and Run Now really runs.

One app is started for this module (its own fresh data dir and free port, not the e2e session
app) and restarted once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 240
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "processes-Restart-passphrase-2026"
PROJECT = "acme"
JOB = "nightly-acme"
STATEMENT = (
    b"Date,Description,Category,Amount,Balance\n"
    b"2024-01-03,Salary,Income,2500.00,3500.00\n"
    b"2024-01-05,Coffee,Food,-3.50,3496.50\n"
    b"2024-01-20,Rent,Housing,-1200.00,2296.50\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class App:
    """scripts/run.sh on 127.0.0.1:<port> with one data dir, startable again after a stop."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.start_seconds: list[float] = []
        self.token: str | None = None
        self.notes: dict[str, Any] = {}

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"app-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FINAPP_", "DATABASE_URL", "JWT_SECRET_KEY"))
        }
        env.update(
            PORT=str(self.port),
            FINAPP_HOST="127.0.0.1",
            FINAPP_DATA_DIR=str(self.data_dir),
            FINAPP_ADMIN_USERNAME=ADMIN_USERNAME,
            FINAPP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        started = time.monotonic()
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "run.sh")],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_serving()
        self.start_seconds.append(time.monotonic() - started)
        print(f"app start #{self.starts} serving in {self.start_seconds[-1]:.1f} s")

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"app exited with {self.process.returncode}:\n{self.log()}")
            try:
                page = httpx.get(f"{self.base_url}/login/", timeout=2)
                health = httpx.get(f"{self.base_url}/api/health", timeout=2)
                if page.status_code == 200 and health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"app did not start in {START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM to the process group, as an operator's stop would; SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # The group may outlive its leader for a moment; the port must be free for the next start.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.token is None:
            response = httpx.post(
                f"{self.base_url}/api/auth/token",
                data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
                timeout=10,
            )
            assert response.status_code == 200, response.text
            self.token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(
            method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    root = tmp_path_factory.mktemp("restart-app")
    (root / "data").mkdir()
    live = App(root / "data", root)
    try:
        live.start()
        yield live
    finally:
        live.stop()


def setup_job(app: App) -> None:
    """Once per module: a statement in the project, the nightly job, the health before a
    restart, then the restart."""
    if "job" in app.notes:
        return
    upload = app.request(
        "POST",
        "/api/files",
        data={"project_id": PROJECT},
        files=[("file", ("statement.csv", STATEMENT, "text/csv"))],
    )
    assert upload.status_code == 201, upload.text
    assert len(upload.json()["stored"]) == 1
    created = app.request(
        "POST",
        "/api/batch/jobs/aggregation",
        json={
            "job_id": JOB,
            "project_id": PROJECT,
            "schedule": "0 2 * * *",
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    app.notes["job"] = created.json()
    app.notes["health_before"] = app.request("GET", "/api/batch/health").json()
    app.restart()


def test_job_and_schedule_survive_an_app_restart(app: App) -> None:
    setup_job(app)
    before = app.notes["job"]
    assert before["next_run"] is not None
    assert before["next_run"].endswith(("T02:00:00+01:00", "T02:00:00+02:00")), before

    after = app.request("GET", f"/api/batch/jobs/{JOB}")
    assert after.status_code == 200, after.text
    job = after.json()
    assert job["next_run"] == before["next_run"]
    for field in ("schedule", "timezone", "project_id", "enabled", "created_at", "description"):
        assert job[field] == before[field], field
    listing = app.request("GET", "/api/batch/jobs").json()
    assert [j["job_id"] for j in listing["jobs"]] == [JOB]
    health = app.request("GET", "/api/batch/health").json()
    assert health["jobs"] == 1
    assert health["next_run"] is not None


def test_scheduler_active_before_and_after_restart_and_run_now_runs(app: App) -> None:
    setup_job(app)
    assert app.notes["health_before"]["scheduler"] == "active in this process", app.notes
    health = app.request("GET", "/api/batch/health").json()
    assert health["scheduler"] == "active in this process", health
    assert health["this_process"]["jobs_loaded"] == 1, health

    queued = app.request("POST", f"/api/batch/jobs/{JOB}/run")
    assert queued.status_code == 202, queued.text
    run_id = queued.json()["id"]
    deadline = time.monotonic() + 60
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        runs = app.request("GET", f"/api/batch/jobs/{JOB}/runs").json()["runs"]
        run = next(r for r in runs if r["id"] == run_id)
        if run["status"] not in ("queued", "running"):
            break
        time.sleep(0.25)
    assert run.get("status") == "completed", run
    assert run["trigger"] == "manual"
    assert run["result"]["files_processed"] == 1, run["result"]
    assert run["result"]["transactions"] == 3, run["result"]
    assert run["result"]["is_valid"] is True, run["result"]
    job = app.request("GET", f"/api/batch/jobs/{JOB}").json()
    assert job["last_result"] == {"files_processed": 1, "transactions": 3, "is_valid": True}
    assert job["next_run"] == app.notes["job"]["next_run"]  # a manual run leaves the schedule
