"""`/api/batch`: jobs, runs, preview and health over HTTP (no scheduler runs in the TestClient)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from finapp import db
from finapp.db import utcnow
from finapp.services import files, scheduler
from finapp.services.cron import CronTrigger

CSV = b"Date,Description,Amount\n2026-01-02,Salary,2500.00\n"
BERLIN = ZoneInfo("Europe/Berlin")
JOB_KEYS = {
    "job_id",
    "job_type",
    "project_id",
    "schedule",
    "timezone",
    "description",
    "enabled",
    "status",
    "created_at",
    "updated_at",
    "next_run",
    "file_ids",
    "timeout_seconds",
    "max_retries",
    "retry_backoff_seconds",
    "last_run",
    "last_result",
}


def create(client: TestClient, headers: dict[str, str], **body) -> dict:
    body.setdefault("job_id", "nightly")
    body.setdefault("project_id", "acme")
    body.setdefault("schedule", "0 2 * * *")
    response = client.post("/api/batch/jobs/aggregation", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(autouse=True)
def no_scheduler_in_this_process() -> None:
    assert scheduler.current_scheduler() is None


# -- create ---------------------------------------------------------------------------------------


def test_create_returns_201_with_the_job(client: TestClient, auth_headers: dict) -> None:
    job = create(client, auth_headers, schedule="0 9 * * 1-5", timezone="Europe/Berlin")
    assert set(job) == JOB_KEYS
    assert job["job_id"] == "nightly"
    assert job["job_type"] == "aggregation"
    assert job["project_id"] == "acme"
    assert job["schedule"] == "0 9 * * 1-5"
    assert job["timezone"] == "Europe/Berlin"
    assert job["enabled"] is True
    assert job["status"] == "scheduled"
    assert job["description"] == "At 09:00 on Monday through Friday"
    assert abs((at(job["created_at"]) - utcnow()).total_seconds()) < 10
    next_run = at(job["next_run"]).astimezone(BERLIN)
    assert (
        next_run > utcnow()
        and next_run.weekday() < 5
        and (next_run.hour, next_run.minute) == (9, 0)
    )
    assert next_run == CronTrigger("0 9 * * 1-5", "Europe/Berlin").get_next_fire_time(
        None, utcnow()
    )
    assert (job["file_ids"], job["last_run"], job["last_result"]) == ([], None, None)
    assert (job["timeout_seconds"], job["max_retries"], job["retry_backoff_seconds"]) == (
        3600,
        2,
        60,
    )


def test_create_with_files_policy_and_disabled(client: TestClient, auth_headers: dict) -> None:
    with db.session_scope() as session:
        file_id = files.store_file(
            session=session, data=CSV, filename="a.csv", project_id="acme", source="upload"
        ).file.id
    job = create(
        client,
        auth_headers,
        file_ids=[file_id],
        enabled=False,
        timeout_seconds=60,
        max_retries=0,
        retry_backoff_seconds=5,
    )
    assert job["file_ids"] == [file_id]
    assert (job["enabled"], job["status"], job["next_run"]) == (False, "paused", None)
    assert (job["timeout_seconds"], job["max_retries"], job["retry_backoff_seconds"]) == (60, 0, 5)
    response = client.post(
        "/api/batch/jobs/aggregation",
        json={
            "job_id": "other",
            "project_id": "elsewhere",
            "schedule": "@daily",
            "file_ids": [file_id],
        },
        headers=auth_headers,
    )
    assert response.status_code == 400
    assert f"Files [{file_id}] do not exist in project 'elsewhere'" in response.json()["detail"]


def test_duplicate_job_id_is_409(client: TestClient, auth_headers: dict) -> None:
    create(client, auth_headers)
    response = client.post(
        "/api/batch/jobs/aggregation",
        json={"job_id": "nightly", "project_id": "acme", "schedule": "@daily"},
        headers=auth_headers,
    )
    assert response.status_code == 409
    assert "nightly" in response.json()["detail"]


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("0 25 * * *", "The hour field '25'"),
        ("61 * * * *", "The minute field '61'"),
        ("0 0 32 * *", "The day-of-month field '32'"),
        ("0 0 * 13 *", "The month field '13'"),
        ("0 0 * * 9", "The day-of-week field '9'"),
        ("0 0 * * * *", "5 fields"),
        ("", "empty"),
        ("@reboot", "Unknown shortcut"),
    ],
)
def test_invalid_cron_is_422_naming_the_field(
    client: TestClient, auth_headers: dict, schedule: str, words: str
) -> None:
    response = client.post(
        "/api/batch/jobs/aggregation",
        json={"job_id": "bad", "project_id": "acme", "schedule": schedule},
        headers=auth_headers,
    )
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert client.get("/api/batch/jobs", headers=auth_headers).json()["total"] == 0


def test_a_refused_job_leaves_no_project_behind(client: TestClient, auth_headers: dict) -> None:
    response = client.post(
        "/api/batch/jobs/aggregation",
        json={"job_id": "bad", "project_id": "brand-new", "schedule": "0 25 * * *"},
        headers=auth_headers,
    )
    assert response.status_code == 422
    projects = client.get("/api/projects", headers=auth_headers).json()
    assert [p["id"] for p in projects] == []  # the transaction was rolled back
    create(client, auth_headers, project_id="brand-new")
    projects = client.get("/api/projects", headers=auth_headers).json()
    assert [p["id"] for p in projects] == ["brand-new"]


def test_unknown_zone_is_400(client: TestClient, auth_headers: dict) -> None:
    response = client.post(
        "/api/batch/jobs/aggregation",
        json={"job_id": "x", "project_id": "acme", "schedule": "@daily", "timezone": "Mars/Base"},
        headers=auth_headers,
    )
    assert response.status_code == 400
    assert "Unknown time zone 'Mars/Base'" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"job_id": "a b"}, 400),
        ({"project_id": "../etc"}, 400),
        ({"max_retries": 11}, 400),
        ({"timeout_seconds": 0}, 400),
        ({"retry_backoff_seconds": 0}, 400),
        ({"job_id": None}, 422),  # schema validation
        ({"file_ids": ["x"]}, 422),
    ],
)
def test_other_bad_input_is_refused(
    client: TestClient, auth_headers: dict, body: dict, status: int
) -> None:
    payload = {"job_id": "j", "project_id": "acme", "schedule": "@daily", **body}
    response = client.post("/api/batch/jobs/aggregation", json=payload, headers=auth_headers)
    assert response.status_code == status, response.text
    assert client.get("/api/batch/jobs", headers=auth_headers).json()["total"] == 0


# -- read -----------------------------------------------------------------------------------------


def test_list_is_paginated(client: TestClient, auth_headers: dict) -> None:
    for name in ("c", "a", "b"):
        create(client, auth_headers, job_id=name)
    page = client.get("/api/batch/jobs?offset=0&limit=2", headers=auth_headers).json()
    assert (page["total"], page["offset"], page["limit"]) == (3, 0, 2)
    assert [j["job_id"] for j in page["jobs"]] == ["a", "b"]
    page = client.get("/api/batch/jobs?offset=2&limit=2", headers=auth_headers).json()
    assert [j["job_id"] for j in page["jobs"]] == ["c"]
    assert set(page["jobs"][0]) == JOB_KEYS
    default = client.get("/api/batch/jobs", headers=auth_headers).json()
    assert (default["offset"], default["limit"], len(default["jobs"])) == (0, 50, 3)
    for query in ("limit=0", "limit=501", "offset=-1"):
        assert client.get(f"/api/batch/jobs?{query}", headers=auth_headers).status_code == 422


def test_get_one_and_unknown_is_404(client: TestClient, auth_headers: dict) -> None:
    created = create(client, auth_headers)
    response = client.get("/api/batch/jobs/nightly", headers=auth_headers)
    assert response.status_code == 200
    assert response.json() == created
    for method, path in (
        ("GET", "/api/batch/jobs/missing"),
        ("PATCH", "/api/batch/jobs/missing"),
        ("POST", "/api/batch/jobs/missing/pause"),
        ("POST", "/api/batch/jobs/missing/resume"),
        ("POST", "/api/batch/jobs/missing/run"),
        ("GET", "/api/batch/jobs/missing/runs"),
        ("DELETE", "/api/batch/jobs/missing"),
    ):
        kwargs = {"json": {"schedule": "@daily"}} if method == "PATCH" else {}
        response = client.request(method, path, headers=auth_headers, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert "missing" in response.json()["detail"]


# -- change ---------------------------------------------------------------------------------------


def test_patch_reschedules(client: TestClient, auth_headers: dict) -> None:
    before = create(client, auth_headers, schedule="0 9 * * *", timezone="Europe/Berlin")
    response = client.patch(
        "/api/batch/jobs/nightly",
        json={"schedule": "30 18 * * 1-5", "max_retries": 4},
        headers=auth_headers,
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert job["schedule"] == "30 18 * * 1-5"
    assert job["description"] == "At 18:30 on Monday through Friday"
    assert job["max_retries"] == 4
    assert job["timezone"] == "Europe/Berlin"  # unchanged
    next_run = at(job["next_run"]).astimezone(BERLIN)
    assert (next_run.hour, next_run.minute) == (18, 30) and next_run.weekday() < 5
    assert at(job["updated_at"]) > at(before["updated_at"])
    assert client.get("/api/batch/jobs/nightly", headers=auth_headers).json() == job


def test_patch_refuses_bad_values_and_changes_nothing(
    client: TestClient, auth_headers: dict
) -> None:
    before = create(client, auth_headers)
    bad_cron = client.patch(
        "/api/batch/jobs/nightly", json={"schedule": "0 0 * * 8"}, headers=auth_headers
    )
    assert bad_cron.status_code == 422 and "day-of-week" in bad_cron.json()["detail"]
    bad_zone = client.patch(
        "/api/batch/jobs/nightly",
        json={"schedule": "0 3 * * *", "timezone": "Nowhere/Land"},
        headers=auth_headers,
    )
    assert bad_zone.status_code == 400
    assert client.get("/api/batch/jobs/nightly", headers=auth_headers).json() == before


def test_patch_treats_null_as_unchanged_for_every_field(
    client: TestClient, auth_headers: dict
) -> None:
    create(client, auth_headers)
    response = client.patch(
        "/api/batch/jobs/nightly",
        json={"schedule": None, "timeout_seconds": None, "max_retries": 3},
        headers=auth_headers,
    )
    assert response.status_code == 200, response.text
    job = response.json()
    assert (job["schedule"], job["timeout_seconds"], job["max_retries"]) == ("0 2 * * *", 3600, 3)


def test_pause_and_resume(client: TestClient, auth_headers: dict) -> None:
    create(client, auth_headers)
    paused = client.post("/api/batch/jobs/nightly/pause", headers=auth_headers)
    assert paused.status_code == 200
    assert (paused.json()["enabled"], paused.json()["status"], paused.json()["next_run"]) == (
        False,
        "paused",
        None,
    )
    resumed = client.post("/api/batch/jobs/nightly/resume", headers=auth_headers)
    assert resumed.status_code == 200
    job = resumed.json()
    assert (job["enabled"], job["status"]) == (True, "scheduled")
    assert at(job["next_run"]) > utcnow()
    patched = client.patch("/api/batch/jobs/nightly", json={"enabled": False}, headers=auth_headers)
    assert patched.json()["status"] == "paused"


# -- runs -----------------------------------------------------------------------------------------


def test_run_now_is_202_and_stays_queued_without_a_scheduler(
    client: TestClient, auth_headers: dict
) -> None:
    create(client, auth_headers)
    response = client.post("/api/batch/jobs/nightly/run", headers=auth_headers)
    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["trigger"], run["status"], run["attempt"]) == ("manual", "queued", 1)
    assert (run["started_at"], run["finished_at"], run["result"]) == (None, None, None)
    assert abs((at(run["scheduled_for"]) - utcnow()).total_seconds()) < 10
    runs = client.get("/api/batch/jobs/nightly/runs", headers=auth_headers).json()
    assert (runs["total"], runs["offset"], runs["limit"]) == (1, 0, 50)
    assert runs["runs"] == [run]  # still queued: no scheduler runs in this process
    job = client.get("/api/batch/jobs/nightly", headers=auth_headers).json()
    assert (job["status"], job["last_run"]) == ("scheduled", None)  # queued is not "last run"


def test_runs_are_newest_first_and_paginated(client: TestClient, auth_headers: dict) -> None:
    create(client, auth_headers, enabled=False)  # Run Now works on a paused job too
    ids = [
        client.post("/api/batch/jobs/nightly/run", headers=auth_headers).json()["id"]
        for _ in range(3)
    ]
    page = client.get("/api/batch/jobs/nightly/runs?limit=2", headers=auth_headers).json()
    assert page["total"] == 3
    assert [r["id"] for r in page["runs"]] == [ids[2], ids[1]]
    page = client.get("/api/batch/jobs/nightly/runs?offset=2&limit=2", headers=auth_headers).json()
    assert [r["id"] for r in page["runs"]] == [ids[0]]


def test_delete_reports_the_runs_deleted_with_the_job(
    client: TestClient, auth_headers: dict
) -> None:
    create(client, auth_headers)
    create(client, auth_headers, job_id="keep")
    for _ in range(2):
        client.post("/api/batch/jobs/nightly/run", headers=auth_headers)
    client.post("/api/batch/jobs/keep/run", headers=auth_headers)
    response = client.delete("/api/batch/jobs/nightly", headers=auth_headers)
    assert response.status_code == 200
    assert response.json() == {"deleted": "nightly", "runs_deleted": 2}
    assert client.get("/api/batch/jobs/nightly", headers=auth_headers).status_code == 404
    assert client.get("/api/batch/jobs/keep/runs", headers=auth_headers).json()["total"] == 1
    # The id is free again, and a new job does not inherit the old history.
    create(client, auth_headers)
    assert client.get("/api/batch/jobs/nightly/runs", headers=auth_headers).json()["total"] == 0


# -- preview and health ---------------------------------------------------------------------------


def test_preview_describes_and_lists_five_weekday_runs(
    client: TestClient, auth_headers: dict
) -> None:
    response = client.get(
        "/api/batch/preview",
        params={"schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
        headers=auth_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["description"] == "At 09:00 on Monday through Friday"
    assert (body["schedule"], body["timezone"]) == ("0 9 * * 1-5", "Europe/Berlin")
    runs = [at(t).astimezone(BERLIN) for t in body["next_runs"]]
    assert len(runs) == 5
    assert all(r.weekday() < 5 and (r.hour, r.minute) == (9, 0) for r in runs)
    assert runs == sorted(runs) and runs[0] > utcnow()
    assert runs[-1] - runs[0] < timedelta(days=8)


def test_preview_refuses_bad_input(client: TestClient, auth_headers: dict) -> None:
    bad = client.get("/api/batch/preview", params={"schedule": "0 9 * * 1-8"}, headers=auth_headers)
    assert bad.status_code == 422
    assert "day-of-week" in bad.json()["detail"]
    zone = client.get(
        "/api/batch/preview",
        params={"schedule": "0 9 * * *", "timezone": "Nowhere/Land"},
        headers=auth_headers,
    )
    assert zone.status_code == 400
    assert client.get("/api/batch/preview", headers=auth_headers).status_code == 422  # no schedule


def test_health_counts_jobs_and_says_where_the_scheduler_runs(
    client: TestClient, auth_headers: dict
) -> None:
    empty = client.get("/api/batch/health", headers=auth_headers).json()
    assert empty == {
        "status": "ok",
        "jobs": 0,
        "running_runs": 0,
        "next_run": None,
        "scheduler": "disabled in this process",
        "this_process": None,
    }
    create(client, auth_headers, job_id="monthly", schedule="0 0 1 * *")
    create(client, auth_headers, job_id="paused", schedule="* * * * *", enabled=False)
    health = client.get("/api/batch/health", headers=auth_headers).json()
    assert health["jobs"] == 2
    assert at(health["next_run"]) == CronTrigger("0 0 1 * *", "UTC").get_next_fire_time(
        None, utcnow()
    )
    assert health["scheduler"] == "disabled in this process"


# -- authentication -------------------------------------------------------------------------------

BATCH_ROUTES = [
    ("POST", "/api/batch/jobs/aggregation"),
    ("GET", "/api/batch/jobs"),
    ("GET", "/api/batch/jobs/nightly"),
    ("PATCH", "/api/batch/jobs/nightly"),
    ("POST", "/api/batch/jobs/nightly/pause"),
    ("POST", "/api/batch/jobs/nightly/resume"),
    ("POST", "/api/batch/jobs/nightly/run"),
    ("DELETE", "/api/batch/jobs/nightly"),
    ("GET", "/api/batch/jobs/nightly/runs"),
    ("GET", "/api/batch/preview?schedule=0%209%20*%20*%201-5"),
    ("GET", "/api/batch/health"),
]


@pytest.mark.parametrize(("method", "path"), BATCH_ROUTES)
def test_every_batch_route_needs_a_token(
    client: TestClient, auth_headers: dict, method: str, path: str
) -> None:
    before = create(client, auth_headers)
    body = {"job_id": "sneaky", "project_id": "acme", "schedule": "@daily"}
    if method == "PATCH":
        body = {"schedule": "* * * * *"}
    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Basic"}):
        response = client.request(method, path, headers=headers, json=body)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    # Nothing changed: no new job, no run, same settings.
    assert client.get("/api/batch/jobs/nightly", headers=auth_headers).json() == before
    assert client.get("/api/batch/jobs", headers=auth_headers).json()["total"] == 1
    assert client.get("/api/batch/jobs/nightly/runs", headers=auth_headers).json()["total"] == 0
