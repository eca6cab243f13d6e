"""The Reflex app: pages, their on_load guards, and the REST API mounted underneath."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import reflex as rx
from starlette.types import ASGIApp

from finapp.api.app import create_api
from finapp.api.fastpath import WebhookFastPath
from finapp.pages.batch_jobs import batch_jobs_page
from finapp.pages.dashboard import dashboard_page
from finapp.pages.email import email_page
from finapp.pages.files import files_page
from finapp.pages.login import login_page
from finapp.pages.projects import projects_page
from finapp.pages.settings import settings_page
from finapp.pages.webhooks import webhooks_page
from finapp.services.scheduler import start_scheduler, stop_scheduler
from finapp.state.api_tokens import ApiTokensState
from finapp.state.auth import AuthState
from finapp.state.batch_jobs import BatchJobsState
from finapp.state.dashboard import DashboardState
from finapp.state.email import EmailState
from finapp.state.files import FilesState
from finapp.state.projects import ProjectsState
from finapp.state.webhooks import WebhooksState

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@contextlib.asynccontextmanager
async def scheduler_lifespan() -> AsyncIterator[None]:
    """Start the batch-job scheduler with the server (every worker starts one; the lock makes
    exactly one of them active) and stop it cleanly at shutdown."""
    await asyncio.to_thread(start_scheduler)
    try:
        yield
    finally:
        await asyncio.to_thread(stop_scheduler)


class FinappApp(rx.App):
    """rx.App whose ASGI app has the webhook fast path in front of everything.

    `api_transformer` cannot place it there: Reflex mounts the transformed app inside its own
    Starlette app (context and CORS middleware, a Mount), and skipping that stack is the point.
    granian calls `app()` (a factory) in each worker, so wrapping its result is outermost.
    """

    def __call__(self) -> ASGIApp:
        return WebhookFastPath(super().__call__())


app = FinappApp(
    api_transformer=create_api(),
    head_components=[rx.el.meta(name="robots", content="noindex")],
)

app.register_lifespan_task(scheduler_lifespan)

app.add_page(
    login_page, route="/login", title="Sign in · finapp", on_load=AuthState.redirect_if_signed_in
)
app.add_page(
    dashboard_page,
    route="/",
    title="Dashboard · finapp",
    on_load=[AuthState.require_login, DashboardState.refresh_status],
)
app.add_page(
    webhooks_page,
    route="/webhooks",
    title="Webhooks · finapp",
    on_load=[AuthState.require_login, WebhooksState.load],
)
app.add_page(
    settings_page,
    route="/settings",
    title="Settings · finapp",
    on_load=[AuthState.require_login, ApiTokensState.load_tokens],
)
app.add_page(
    files_page,
    route="/files",
    title="Files · finapp",
    on_load=[AuthState.require_login, FilesState.load],
)
app.add_page(
    projects_page,
    route="/projects",
    title="Projects · finapp",
    on_load=[AuthState.require_login, ProjectsState.load],
)
app.add_page(
    batch_jobs_page,
    route="/batch-jobs",
    title="Batch jobs · finapp",
    on_load=[AuthState.require_login, BatchJobsState.load],
)
app.add_page(
    email_page,
    route="/email",
    title="Email · finapp",
    on_load=[AuthState.require_login, EmailState.load],
)
