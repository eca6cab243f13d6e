"""Batch jobs at the service level: create/update/pause/resume/delete, views, preview, health."""

from __future__ import annotations

import itertools
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from finapp import db
from finapp.db import utcnow
from finapp.models import BatchJob, JobRun, Project
from finapp.services import batch_jobs, cron, files, job_runs
from finapp.services.cron import InvalidCron
from finapp.services.errors import Conflict, InvalidInput, NotFound
from tests.conftest import reload_settings

CSV = (
    b"Date,Description,Category,Account,Amount,Balance\n"
    b"2026-01-02,Salary,Income,Main,2500.00,2500.00\n"
    b"2026-01-05,Rent,Housing,Main,-900.00,1600.00\n"
)
YEARLY = "0 0 1 1 *"  # never fires while a test runs
_minutes = itertools.count(1)


def _store(session: Session, project: str, name: str = "a.csv", data: bytes = CSV) -> int:
    return files.store_file(
        session=session,
        data=data + name.encode(),
        filename=name,
        project_id=project,
        source="upload",
    ).file.id


def _create(session: Session, job_id: str = "nightly", **kwargs) -> BatchJob:
    kwargs.setdefault("project_id", "acme")
    kwargs.setdefault("schedule", "0 2 * * *")
    return batch_jobs.create_job(session=session, job_id=job_id, **kwargs)


def _run(session: Session, job: BatchJob, status: str, **fields) -> JobRun:
    """A run row with a distinct scheduled_for (the unique key is (job, scheduled_for))."""
    run = JobRun(
        job_pk=job.id,
        trigger=fields.pop("trigger", "schedule"),
        scheduled_for=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=next(_minutes)),
        status=status,
        **fields,
    )
    session.add(run)
    session.flush()
    return run


def _close_to_now(moment: datetime | None, seconds: float = 5) -> bool:
    return moment is not None and abs((utcnow() - moment).total_seconds()) < seconds


# -- create ---------------------------------------------------------------------------------------


def test_create_stores_normalised_schedule_zone_policy_and_project(session: Session) -> None:
    job = _create(
        session,
        schedule=" 0  9 * * 1-5 ",
        timezone="Europe/Berlin",
        timeout_seconds=120,
        max_retries=3,
        retry_backoff_seconds=30,
    )
    assert (job.job_id, job.job_type, job.project_id) == ("nightly", "aggregation", "acme")
    assert (job.cron, job.timezone, job.enabled) == ("0 9 * * 1-5", "Europe/Berlin", True)
    assert (job.timeout_seconds, job.max_retries, job.retry_backoff_seconds) == (120, 3, 30)
    assert job.params == {}
    assert job.last_scheduled_for is None
    assert session.get(Project, "acme") is not None  # the project is created on first use


def test_create_without_zone_uses_the_configured_default(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINAPP_TIMEZONE", "America/New_York")
    reload_settings()
    with db.session_scope() as session:
        assert _create(session).timezone == "America/New_York"


@pytest.mark.parametrize("job_id", ["a", "Nightly-agg_1.v2", "7", "x" * 64, "  padded  "])
def test_valid_job_ids_are_accepted(session: Session, job_id: str) -> None:
    assert _create(session, job_id=job_id).job_id == job_id.strip()


@pytest.mark.parametrize(
    "job_id", ["", "   ", "-dash-first", ".dot-first", "a b", "a/b", "x" * 65, "jöb", "a;drop"]
)
def test_invalid_job_ids_are_refused(session: Session, job_id: str) -> None:
    with pytest.raises(InvalidInput, match="job id"):
        _create(session, job_id=job_id)
    assert session.exec(select(BatchJob)).all() == []


def test_duplicate_job_id_is_a_conflict(session: Session) -> None:
    _create(session, job_id="nightly")
    with pytest.raises(Conflict, match="nightly"):
        _create(session, job_id="nightly", project_id="other")


def test_unknown_job_type_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match="Unknown job type 'mystery'") as error:
        _create(session, job_type="mystery")
    assert not isinstance(error.value, InvalidCron)
    assert "aggregation" in str(error.value)  # lists the known ones


def test_invalid_cron_is_refused_with_the_field_named(session: Session) -> None:
    with pytest.raises(InvalidCron, match="The hour field '25'"):
        _create(session, schedule="0 25 * * *")
    with pytest.raises(InvalidCron, match="got 6"):
        _create(session, schedule="0 0 2 * * *")


def test_unknown_zone_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match="Unknown time zone 'Mars/Olympus'") as error:
        _create(session, timezone="Mars/Olympus")
    assert not isinstance(error.value, InvalidCron)


def test_invalid_project_id_is_refused(session: Session) -> None:
    with pytest.raises(InvalidInput, match="project id"):
        _create(session, project_id="not a project")


def test_file_ids_must_exist_in_the_project(session: Session) -> None:
    mine = _store(session, "acme", "mine.csv")
    theirs = _store(session, "other", "theirs.csv")
    with pytest.raises(InvalidInput, match=rf"Files \[{theirs}\] do not exist in project 'acme'"):
        _create(session, file_ids=[mine, theirs])
    with pytest.raises(InvalidInput, match=r"Files \[99999\]"):
        _create(session, file_ids=[99999])
    job = _create(session, file_ids=[mine, mine])
    assert job.params == {"file_ids": [mine]}  # deduplicated


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout_seconds", 0),
        ("timeout_seconds", 24 * 3600 + 1),
        ("max_retries", -1),
        ("max_retries", 11),
        ("retry_backoff_seconds", 0),
        ("retry_backoff_seconds", 24 * 3600 + 1),
        ("timeout_seconds", 1.5),
    ],
)
def test_policy_limits_are_enforced(session: Session, field: str, value: object) -> None:
    with pytest.raises(InvalidInput, match=f"{field} must be between"):
        _create(session, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout_seconds", 1), ("timeout_seconds", 86400), ("max_retries", 0), ("max_retries", 10)],
)
def test_policy_bounds_are_inclusive(session: Session, field: str, value: int) -> None:
    assert getattr(_create(session, **{field: value}), field) == value


def test_a_job_created_disabled_is_paused_with_no_next_run(session: Session) -> None:
    _create(session, enabled=False)
    view = batch_jobs.view(session=session, job_id="nightly")
    assert (view.status, view.next_run) == ("paused", None)


# -- update, pause, resume ------------------------------------------------------------------------


def test_reschedule_changes_next_run_and_skips_catch_up_of_the_old_schedule(
    session: Session,
) -> None:
    _create(session, schedule="0 9 * * *", timezone="Europe/Berlin")
    before = batch_jobs.view(session=session, job_id="nightly").next_run
    assert (before.hour, before.minute) == (9, 0)
    job = batch_jobs.update_job(session=session, job_id="nightly", schedule="30 18 * * *")
    assert job.cron == "30 18 * * *"
    after = batch_jobs.view(session=session, job_id="nightly").next_run
    assert (after.astimezone(ZoneInfo("Europe/Berlin")).hour, after.minute) == (18, 30)
    assert after == cron.CronTrigger("30 18 * * *", "Europe/Berlin").get_next_fire_time(
        None, utcnow()
    )
    assert _close_to_now(job.last_scheduled_for)


def test_changing_the_zone_moves_next_run(session: Session) -> None:
    _create(session, schedule="0 9 * * *", timezone="UTC")
    job = batch_jobs.update_job(session=session, job_id="nightly", timezone="Asia/Tokyo")
    assert job.timezone == "Asia/Tokyo"
    next_run = batch_jobs.view(session=session, job_id="nightly").next_run
    assert next_run.astimezone(ZoneInfo("Asia/Tokyo")).hour == 9
    assert next_run.astimezone(UTC).hour == 0


def test_update_validates_like_create(session: Session) -> None:
    _create(session)
    with pytest.raises(InvalidCron, match="minute"):
        batch_jobs.update_job(session=session, job_id="nightly", schedule="61 * * * *")
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        batch_jobs.update_job(session=session, job_id="nightly", timezone="Nowhere/Land")
    with pytest.raises(InvalidInput, match="max_retries must be between"):
        batch_jobs.update_job(session=session, job_id="nightly", max_retries=99)
    with pytest.raises(InvalidInput, match="Cannot change job_type"):
        batch_jobs.update_job(session=session, job_id="nightly", job_type="other")
    with pytest.raises(NotFound):
        batch_jobs.update_job(session=session, job_id="missing", schedule="0 1 * * *")


def test_update_policy_and_file_ids(session: Session) -> None:
    _create(session)
    file_id = _store(session, "acme")
    job = batch_jobs.update_job(
        session=session, job_id="nightly", max_retries=5, timeout_seconds=10, file_ids=[file_id]
    )
    assert (job.max_retries, job.timeout_seconds, job.params) == (5, 10, {"file_ids": [file_id]})
    job = batch_jobs.update_job(session=session, job_id="nightly", file_ids=None)
    assert job.params == {}  # all files again


def test_moving_a_job_to_another_project_does_not_keep_the_old_projects_file_ids(
    session: Session,
) -> None:
    old_file = _store(session, "acme")
    _create(session, file_ids=[old_file])
    try:
        job = batch_jobs.update_job(session=session, job_id="nightly", project_id="other")
    except InvalidInput:
        return  # refusing the move is fine too
    assert job.project_id == "other"
    assert old_file not in job.params.get("file_ids", [])


def test_pause_sets_status_paused_and_no_next_run(session: Session) -> None:
    _create(session)
    job = batch_jobs.pause_job(session=session, job_id="nightly")
    assert job.enabled is False
    view = batch_jobs.view(session=session, job_id="nightly")
    assert (view.status, view.next_run) == ("paused", None)


def test_resume_does_not_catch_up_the_paused_period(session: Session) -> None:
    job = _create(session, schedule="0 * * * *")
    batch_jobs.pause_job(session=session, job_id="nightly")
    three_hours_ago = utcnow() - timedelta(hours=3, minutes=1)
    job.last_scheduled_for = three_hours_ago  # paused for three hours
    session.add(job)
    session.flush()
    trigger = cron.CronTrigger(job.cron, job.timezone)
    assert len(cron.fire_times_between(trigger, three_hours_ago, utcnow())) == 3  # would be missed

    job = batch_jobs.resume_job(session=session, job_id="nightly")
    assert job.enabled is True
    assert _close_to_now(job.last_scheduled_for)
    assert (
        job_runs.catch_up(session=session, job=job, now=utcnow(), grace=timedelta(hours=1)) is None
    )
    assert session.exec(select(JobRun)).all() == []
    view = batch_jobs.view(session=session, job_id="nightly")
    assert view.status == "scheduled" and view.next_run is not None


def test_resuming_a_running_job_keeps_its_last_fire_so_an_outage_is_still_caught_up(
    session: Session,
) -> None:
    job = _create(session)
    earlier = utcnow() - timedelta(days=2)
    job.last_scheduled_for = earlier
    session.add(job)
    session.flush()
    job = batch_jobs.resume_job(session=session, job_id="nightly")  # was never paused
    assert job.last_scheduled_for == earlier


# -- delete ---------------------------------------------------------------------------------------


def test_delete_removes_the_job_and_its_run_history(session: Session) -> None:
    job = _create(session)
    keep = _create(session, job_id="keep")
    for status in ("completed", "failed", "queued"):
        _run(session, job, status)
    kept_run = _run(session, keep, "completed")
    assert batch_jobs.delete_job(session=session, job_id="nightly") == 3
    with pytest.raises(NotFound):
        batch_jobs.get_job(session=session, job_id="nightly")
    # History goes with the job (documented in batch_jobs' docstring); other jobs keep theirs.
    assert [r.id for r in session.exec(select(JobRun)).all()] == [kept_run.id]
    with pytest.raises(NotFound):
        batch_jobs.delete_job(session=session, job_id="nightly")


def test_deleting_a_job_with_runs_emits_no_sqlalchemy_warning(database: Path) -> None:
    with db.session_scope() as session:
        job = _create(session)
        _run(session, job, "completed")
        _run(session, job, "failed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with db.session_scope() as session:
            assert batch_jobs.delete_job(session=session, job_id="nightly") == 2
    with db.session_scope() as session:
        assert session.exec(select(JobRun)).all() == []


def test_delete_of_a_job_without_runs_reports_zero(session: Session) -> None:
    _create(session)
    assert batch_jobs.delete_job(session=session, job_id="nightly") == 0


# -- list and views -------------------------------------------------------------------------------


def test_list_jobs_is_paginated_and_ordered_by_job_id(session: Session) -> None:
    for name in ("e", "b", "d", "a", "c"):
        _create(session, job_id=name)
    page, total = batch_jobs.list_jobs(session=session, offset=0, limit=2)
    assert total == 5
    assert [v.job.job_id for v in page] == ["a", "b"]
    page, total = batch_jobs.list_jobs(session=session, offset=2, limit=2)
    assert [v.job.job_id for v in page] == ["c", "d"]
    page, total = batch_jobs.list_jobs(session=session, offset=4, limit=2)
    assert ([v.job.job_id for v in page], total) == (["e"], 5)
    page, total = batch_jobs.list_jobs(session=session, offset=10, limit=2)
    assert (page, total) == ([], 5)


def test_list_jobs_on_an_empty_database(session: Session) -> None:
    assert batch_jobs.list_jobs(session=session) == ([], 0)


def test_views_show_status_from_the_latest_run(session: Session) -> None:
    fresh = _create(session, job_id="a-fresh")
    running = _create(session, job_id="b-running")
    _run(session, running, "completed")
    _run(session, running, "running")
    failed = _create(session, job_id="c-failed")
    _run(session, failed, "completed")
    _run(session, failed, "failed", error="boom")
    _run(session, failed, "queued", trigger="retry")  # a queued retry does not hide the failure
    missed = _create(session, job_id="d-missed")
    _run(session, missed, "missed")
    abandoned = _create(session, job_id="e-abandoned")
    _run(session, abandoned, "abandoned")
    recovered = _create(session, job_id="f-recovered")
    _run(session, recovered, "failed")
    _run(session, recovered, "completed", result={"files_processed": 1})
    paused = _create(session, job_id="g-paused")
    _run(session, paused, "failed")
    batch_jobs.pause_job(session=session, job_id="g-paused")
    queued_only = _create(session, job_id="h-queued")
    _run(session, queued_only, "queued", trigger="manual")

    views = {v.job.job_id: v for v in batch_jobs.list_jobs(session=session)[0]}
    assert {k: v.status for k, v in views.items()} == {
        fresh.job_id: "scheduled",
        running.job_id: "running",
        failed.job_id: "failed",
        missed.job_id: "failed",
        abandoned.job_id: "failed",
        recovered.job_id: "scheduled",
        paused.job_id: "paused",
        queued_only.job_id: "scheduled",
    }
    assert views["a-fresh"].last_run is None
    assert views["h-queued"].last_run is None  # queued runs are not "last run"
    assert views["c-failed"].last_run.error == "boom"
    assert views["g-paused"].next_run is None
    assert all(v.next_run is not None for k, v in views.items() if k != "g-paused")
    assert views["b-running"].description == "At 02:00 every day"


def test_a_skipped_overlap_run_does_not_hide_that_the_job_is_running(session: Session) -> None:
    job = _create(session)
    first = _run(session, job, "running")
    _run(
        session,
        job,
        "skipped",
        trigger="manual",
        error=f"Not started: run #{first.id} of this job was still running.",
    )
    assert batch_jobs.view(session=session, job_id="nightly").status == "running"


def test_last_result_shows_the_figures_of_the_last_completed_run(session: Session) -> None:
    job = _create(session)
    _run(
        session,
        job,
        "completed",
        result={
            "files_processed": 2,
            "transactions": 7,
            "is_valid": False,
            "errors": ["x"],
            "totals": {},
        },
    )
    view = batch_jobs.view(session=session, job_id="nightly")
    assert view.last_result == {"files_processed": 2, "transactions": 7, "is_valid": False}
    _run(session, job, "failed", error="boom")
    view = batch_jobs.view(session=session, job_id="nightly")
    assert view.status == "failed"
    assert view.last_result is None  # the last run has no result


def test_view_of_an_unknown_job_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound, match="missing"):
        batch_jobs.view(session=session, job_id="missing")


# -- runs -----------------------------------------------------------------------------------------


def test_run_now_queues_a_manual_run_even_when_paused(session: Session) -> None:
    job = _create(session, enabled=False)
    run = batch_jobs.run_now(session=session, job_id="nightly")
    assert (run.job_pk, run.trigger, run.status, run.attempt) == (job.id, "manual", "queued", 1)
    assert _close_to_now(run.scheduled_for)
    assert job_runs.due_runs(session=session, now=utcnow() + timedelta(seconds=1)) == [run.id]
    assert job.last_scheduled_for is None  # the schedule is left alone


def test_list_runs_newest_first_and_paginated(session: Session) -> None:
    job = _create(session)
    runs = [_run(session, job, "completed") for _ in range(5)]
    page, total = batch_jobs.list_runs(session=session, job_id="nightly", offset=0, limit=2)
    assert total == 5
    assert [r.id for r in page] == [runs[4].id, runs[3].id]
    page, _ = batch_jobs.list_runs(session=session, job_id="nightly", offset=4, limit=2)
    assert [r.id for r in page] == [runs[0].id]
    with pytest.raises(NotFound):
        batch_jobs.list_runs(session=session, job_id="missing")


# -- preview and health ---------------------------------------------------------------------------


def test_preview_describes_and_lists_five_weekday_runs() -> None:
    result = batch_jobs.preview("0 9 * * 1-5", "Europe/Berlin")
    assert result["schedule"] == "0 9 * * 1-5"
    assert result["timezone"] == "Europe/Berlin"
    assert result["description"] == "At 09:00 on Monday through Friday"
    runs = [datetime.fromisoformat(t) for t in result["next_runs"]]
    assert len(runs) == 5
    assert runs == sorted(runs) and len(set(runs)) == 5
    assert all(r > utcnow() for r in runs)
    berlin = [r.astimezone(ZoneInfo("Europe/Berlin")) for r in runs]
    assert all(r.weekday() < 5 and (r.hour, r.minute) == (9, 0) for r in berlin)
    assert runs[-1] - runs[0] < timedelta(days=8)


def test_preview_uses_the_default_zone_and_refuses_bad_input() -> None:
    result = batch_jobs.preview("@daily")
    assert result["timezone"] == "UTC"
    assert all(t.endswith("T00:00:00+00:00") for t in result["next_runs"])
    assert batch_jobs.preview("*/15 * * * *", count=3)["description"] == (
        "Every 15th minute of every hour"
    )
    with pytest.raises(InvalidCron, match="day-of-week"):
        batch_jobs.preview("0 9 * * 8")
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        batch_jobs.preview("0 9 * * *", "Nowhere/Land")


def test_health_counts_jobs_and_gives_the_soonest_next_run_of_enabled_jobs(
    session: Session,
) -> None:
    assert batch_jobs.health(session=session) == {"jobs": 0, "running_runs": 0, "next_run": None}
    monthly = _create(session, job_id="monthly", schedule="0 0 1 * *", timezone="Europe/Berlin")
    _create(session, job_id="yearly", schedule=YEARLY)
    _create(session, job_id="twin", schedule="0 0 1 * *", timezone="Europe/Berlin")
    _create(session, job_id="paused", schedule="* * * * *", enabled=False)
    _run(session, monthly, "running")
    health = batch_jobs.health(session=session)
    assert health["jobs"] == 4
    assert health["running_runs"] == 1
    expected = cron.CronTrigger("0 0 1 * *", "Europe/Berlin").get_next_fire_time(None, utcnow())
    # The paused every-minute job would be sooner; it is not counted.
    assert datetime.fromisoformat(health["next_run"]) == expected
