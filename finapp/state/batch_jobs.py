"""Batch jobs page: the jobs table, the create/edit form with a live schedule preview, actions,
run history, and live status pushed from the backend while the page is open."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session, func, select

from finapp.db import session_scope
from finapp.models import BatchJob, JobRun
from finapp.services import batch_jobs, files
from finapp.services.batch_jobs import JobView
from finapp.services.errors import FinappError
from finapp.services.scheduler import notify_scheduler
from finapp.settings import get_settings
from finapp.state.auth import AuthState
from finapp.state.live import watch_changes
from finapp.state.paging import range_label
from finapp.wording import counted

PAGE_SIZE = 25
ROUTE = "/batch-jobs"
PRESETS = {
    "Every hour": "0 * * * *",
    "Daily at 2:00": "0 2 * * *",
    "Weekdays at 9:00": "0 9 * * 1-5",
    "Weekly on Monday at 8:00": "0 8 * * 1",
    "Monthly on the 1st at 3:00": "0 3 1 * *",
}
CUSTOM = "Custom"


def _job_row(view: JobView) -> dict[str, str]:
    job, last = view.job, view.last_run
    result = last.result if last is not None else None
    summary = ""
    if result:
        summary = _result_summary(result)
    elif last is not None and last.error:
        summary = last.error.splitlines()[0][:160]
    return {
        "job_id": job.job_id,
        "project_id": job.project_id or "",
        "schedule": job.cron,
        "timezone": job.timezone,
        "description": view.description,
        "status": view.status,
        "next_run": view.next_run.isoformat() if view.next_run else "",
        "last_status": last.status if last else "",
        "last_at": (last.finished_at or last.started_at or last.scheduled_for).isoformat()
        if last
        else "",
        "summary": summary,
        "enabled": "1" if job.enabled else "",
    }


def _run_row(run: JobRun) -> dict[str, str]:
    result = run.result or {}
    return {
        "id": str(run.id),
        "trigger": run.trigger,
        "attempt": str(run.attempt),
        "status": run.status,
        "scheduled_for": run.scheduled_for.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else "",
        "duration": f"{run.duration_ms / 1000:.1f} s" if run.duration_ms is not None else "",
        "result": _result_summary(result) if result else "",
        "error": run.error,
        "log": run.log,
    }


def _fingerprint(session: Session) -> tuple[Any, ...]:
    jobs = session.exec(select(func.count(), func.max(BatchJob.updated_at))).one()
    runs = session.exec(
        select(func.max(JobRun.id), func.max(JobRun.started_at), func.max(JobRun.finished_at))
    ).one()
    return (*jobs, *runs)


def _current_fingerprint() -> tuple[Any, ...]:
    with session_scope() as session:
        return _fingerprint(session)


class BatchJobsState(AuthState):
    jobs: list[dict[str, str]] = []
    total: int = 0
    page: int = 0
    loading: bool = True
    error: str = ""
    projects: list[str] = []

    form_open: bool = False
    editing: str = ""  # job_id being edited; "" when creating
    form_job_id: str = ""
    form_project: str = ""
    form_preset: str = "Daily at 2:00"
    form_schedule: str = PRESETS["Daily at 2:00"]
    form_timezone: str = ""
    form_enabled: bool = True
    form_timeout: str = "3600"
    form_retries: str = "2"
    form_backoff: str = "60"
    form_error: str = ""
    preview_description: str = ""
    preview_runs: list[str] = []
    preview_error: str = ""
    saving: bool = False

    history_job: str = ""
    history: list[dict[str, str]] = []
    history_total: int = 0

    _watch_generation: int = 0
    _fingerprint: tuple = ()

    @rx.var
    def page_label(self) -> str:
        return range_label(self.page, PAGE_SIZE, self.total, "No jobs")

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.total

    @rx.var
    def history_open(self) -> bool:
        return self.history_job != ""

    # -- loading and live updates ----------------------------------------------------------
    @rx.event
    def load(self) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        self._reload()
        self._watch_generation += 1
        return BatchJobsState.watch

    def _reload(self) -> None:
        with session_scope() as session:
            views, self.total = batch_jobs.list_jobs(
                session=session, offset=self.page * PAGE_SIZE, limit=PAGE_SIZE
            )
            self.jobs = [_job_row(v) for v in views]
            self.projects = [p.id for p in files.list_projects(session=session)]
            self._fingerprint = _fingerprint(session)
            if self.history_job:
                self._load_history(session)
        self.loading = False

    @rx.event(background=True)
    async def watch(self) -> None:
        """Push run and job changes to this page while it is open (one cheap query a second;
        the table is only re-sent when something changed, so nothing flickers)."""
        await watch_changes(
            self,
            route=ROUTE,
            probe=_current_fingerprint,
            seen=lambda: self._fingerprint,
            reload=self._reload,
        )

    @rx.event
    def next_page(self) -> None:
        if self.has_next:
            self.page += 1
            self._reload()

    @rx.event
    def previous_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self._reload()

    # -- form ------------------------------------------------------------------------------
    @rx.event
    def open_create(self) -> None:
        self.editing = ""
        self.form_job_id = ""
        self.form_project = self.projects[0] if self.projects else ""
        self.form_preset = "Daily at 2:00"
        self.form_schedule = PRESETS[self.form_preset]
        self.form_timezone = get_settings().default_timezone
        self.form_enabled = True
        self.form_timeout, self.form_retries, self.form_backoff = "3600", "2", "60"
        self.form_error = ""
        self._preview()
        self.form_open = True

    @rx.event
    def open_edit(self, job_id: str) -> None:
        with session_scope() as session:
            try:
                job = batch_jobs.get_job(session=session, job_id=job_id)
            except FinappError as exc:
                self.error = str(exc)
                return
            self.editing = job.job_id
            self.form_job_id = job.job_id
            self.form_project = job.project_id
            self.form_schedule = job.cron
            self.form_timezone = job.timezone
            self.form_enabled = job.enabled
            self.form_timeout = str(job.timeout_seconds)
            self.form_retries = str(job.max_retries)
            self.form_backoff = str(job.retry_backoff_seconds)
        self.form_preset = next((k for k, v in PRESETS.items() if v == self.form_schedule), CUSTOM)
        self.form_error = ""
        self._preview()
        self.form_open = True

    @rx.event
    def close_form(self) -> None:
        self.form_open = False

    @rx.event
    def set_form_open(self, value: bool) -> None:
        self.form_open = value

    @rx.event
    def set_form_job_id(self, value: str) -> None:
        self.form_job_id = value.strip()[:64]

    @rx.event
    def set_form_project(self, value: str) -> None:
        self.form_project = value.strip()[:64]

    @rx.event
    def set_form_enabled(self, value: bool) -> None:
        self.form_enabled = value

    @rx.event
    def set_form_timeout(self, value: str) -> None:
        self.form_timeout = value

    @rx.event
    def set_form_retries(self, value: str) -> None:
        self.form_retries = value

    @rx.event
    def set_form_backoff(self, value: str) -> None:
        self.form_backoff = value

    @rx.event
    def choose_preset(self, preset: str) -> None:
        self.form_preset = preset
        if preset in PRESETS:
            self.form_schedule = PRESETS[preset]
        self._preview()

    @rx.event
    def set_form_schedule(self, value: str) -> None:
        self.form_schedule = value[:120]
        self.form_preset = next((k for k, v in PRESETS.items() if v == value.strip()), CUSTOM)
        self._preview()

    @rx.event
    def set_form_timezone(self, value: str) -> None:
        self.form_timezone = value.strip()[:64]
        self._preview()

    def _preview(self) -> None:
        try:
            preview = batch_jobs.preview(self.form_schedule, self.form_timezone or None)
        except FinappError as exc:
            self.preview_error = str(exc)
            self.preview_description, self.preview_runs = "", []
            return
        self.preview_error = ""
        self.preview_description = preview["description"]
        self.preview_runs = preview["next_runs"]

    @rx.event
    def save(self) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        self.form_error = ""
        try:
            policy = {
                "timeout_seconds": int(self.form_timeout),
                "max_retries": int(self.form_retries),
                "retry_backoff_seconds": int(self.form_backoff),
            }
        except ValueError:
            self.form_error = "Timeout, retries and backoff must be whole numbers."
            return None
        try:
            with session_scope() as session:
                if self.editing:
                    batch_jobs.update_job(
                        session=session,
                        job_id=self.editing,
                        schedule=self.form_schedule,
                        timezone=self.form_timezone,
                        project_id=self.form_project,
                        enabled=self.form_enabled,
                        **policy,
                    )
                else:
                    batch_jobs.create_job(
                        session=session,
                        job_id=self.form_job_id,
                        project_id=self.form_project,
                        schedule=self.form_schedule,
                        timezone=self.form_timezone,
                        enabled=self.form_enabled,
                        **policy,
                    )
        except FinappError as exc:
            self.form_error = str(exc)
            return None
        notify_scheduler()
        saved = self.editing or self.form_job_id
        self.form_open = False
        self._reload()
        return rx.toast.success(f"Job {saved} saved.")

    # -- actions ---------------------------------------------------------------------------
    def _act(self, job_id: str, action: str) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        operations = {
            "run": batch_jobs.run_now,
            "pause": batch_jobs.pause_job,
            "resume": batch_jobs.resume_job,
            "delete": batch_jobs.delete_job,
        }
        try:
            with session_scope() as session:
                operations[action](session=session, job_id=job_id)
        except FinappError as exc:
            self.error = str(exc)
            return None
        notify_scheduler()
        if action == "delete" and self.history_job == job_id:
            self.history_job = ""
        self._reload()
        messages = {
            "run": f"{job_id}: run queued.",
            "pause": f"{job_id} paused.",
            "resume": f"{job_id} resumed.",
            "delete": f"{job_id} and its run history deleted.",
        }
        return rx.toast.success(messages[action])

    @rx.event
    def run_now(self, job_id: str) -> Any:
        return self._act(job_id, "run")

    @rx.event
    def pause(self, job_id: str) -> Any:
        return self._act(job_id, "pause")

    @rx.event
    def resume(self, job_id: str) -> Any:
        return self._act(job_id, "resume")

    @rx.event
    def delete(self, job_id: str) -> Any:
        return self._act(job_id, "delete")

    # -- history ---------------------------------------------------------------------------
    @rx.event
    def show_history(self, job_id: str) -> None:
        self.history_job = job_id
        with session_scope() as session:
            self._load_history(session)

    def _load_history(self, session: Session) -> None:
        try:
            runs, self.history_total = batch_jobs.list_runs(
                session=session, job_id=self.history_job, limit=50
            )
        except FinappError:
            self.history_job, self.history, self.history_total = "", [], 0
            return
        self.history = [_run_row(r) for r in runs]

    @rx.event
    def set_history_open(self, value: bool) -> None:
        if not value:
            self.history_job = ""
            self.history = []


def _result_summary(result: dict[str, Any]) -> str:
    """A run's result in a line: an aggregation's figures, an email check's, or the plain
    values of any other job type's (its result may lack either set of keys)."""
    if "files_processed" in result:
        return (
            f"{counted(int(result.get('files_processed') or 0), 'file')} · "
            f"{counted(int(result.get('transactions') or 0), 'transaction')} · "
            + ("valid" if result.get("is_valid") else "invalid")
        )
    if "mailboxes" in result:
        return (
            f"{counted(int(result.get('mailboxes') or 0), 'mailbox', 'mailboxes')} · "
            f"{counted(int(result.get('new_messages') or 0), 'new message')} · "
            f"{counted(int(result.get('files') or 0), 'file')}"
        )
    plain = (
        f"{name.replace('_', ' ')} {value}"
        for name, value in result.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    )
    return " · ".join(plain)[:160]
