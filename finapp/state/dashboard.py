"""Dashboard: live system status and figures (refreshed on a timer, no manual reload)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from finapp import __version__
from finapp.db import session_scope
from finapp.services import webhooks
from finapp.services.overview import overview
from finapp.services.system import system_status
from finapp.state.auth import AuthState


class DashboardState(AuthState):
    database_status: str = "checking"
    database_backend: str = ""
    version: str = __version__
    checked_at: str = ""
    files_total: int = 0
    files_failed: int = 0
    files_by_source: list[dict[str, str]] = []
    transactions: int = 0
    projects: int = 0
    failing_projects: list[str] = []
    jobs: int = 0
    running_runs: int = 0
    next_run: str = ""
    failed_runs_24h: int = 0
    failed_jobs: list[str] = []
    email_files_today: int = 0
    mailboxes: int = 0
    mailbox_errors: list[str] = []
    last_mail_check: str = ""
    webhook_events_today: int = 0
    webhook_rejected_today: int = 0

    @rx.event
    def refresh_status(self, _tick: Any = None) -> None:
        status = system_status()
        self.database_status = status.database
        self.database_backend = status.backend
        self.checked_at = status.checked_at.isoformat()
        if not status.healthy:
            return
        with session_scope() as session:
            figures = overview(session=session)
        self.files_total = figures.files_total
        self.files_failed = figures.files_failed
        self.files_by_source = [
            {"source": source, "count": str(figures.files_by_source.get(source, 0))}
            for source in ("upload", "email", "webhook")
        ]
        self.transactions = figures.transactions
        self.projects = figures.projects
        self.failing_projects = figures.failing_projects
        self.jobs = figures.jobs
        self.running_runs = figures.running_runs
        self.next_run = figures.next_run or ""
        self.failed_runs_24h = figures.failed_runs_24h
        self.failed_jobs = figures.failed_jobs
        self.email_files_today = figures.email_files_today
        self.mailboxes = figures.mailboxes
        self.mailbox_errors = figures.mailbox_errors
        self.last_mail_check = figures.last_mail_check or ""
        with session_scope() as session:
            today = webhooks.today_counts(session=session)
        self.webhook_events_today = today["events_today"]
        self.webhook_rejected_today = today["rejected_today"]
