"""Dashboard: one card per capability; later features fill the placeholders with live figures."""

from __future__ import annotations

import reflex as rx

from finapp.components.layout import card, page_shell
from finapp.state.dashboard import DashboardState

STATUS_REFRESH_MS = 15_000


def _open_link(href: str) -> rx.Component:
    return rx.link(
        rx.hstack(rx.text("Open"), rx.icon("arrow-right", size=14), align="center", spacing="1"),
        href=href,
        size="2",
    )


def _system_card() -> rx.Component:
    healthy = DashboardState.database_status == "ok"
    return card(
        "System",
        "activity",
        rx.hstack(
            rx.badge(
                rx.cond(healthy, "Healthy", DashboardState.database_status),
                color_scheme=rx.cond(healthy, "green", "red"),
                size="2",
                id="system-status",
            ),
            rx.text("v", DashboardState.version, size="2", color=rx.color("gray", 11)),
            align="center",
        ),
        rx.text("Database: ", DashboardState.database_backend, size="2"),
        rx.cond(
            DashboardState.checked_at != "",
            rx.text(
                "Checked ",
                rx.moment(DashboardState.checked_at, from_now=True),
                size="1",
                color=rx.color("gray", 10),
            ),
        ),
        # Re-checks on a timer so the card stays live without reloading the page.
        rx.moment(
            interval=STATUS_REFRESH_MS, on_change=DashboardState.refresh_status, display="none"
        ),
    )


def _files_card() -> rx.Component:
    return card(
        "Files processed",
        "file-text",
        rx.heading(DashboardState.files_total, size="8", id="dashboard-files"),
        rx.hstack(
            rx.foreach(
                DashboardState.files_by_source,
                lambda s: rx.badge(s["source"], ": ", s["count"], variant="soft"),
            ),
            wrap="wrap",
        ),
        rx.cond(
            DashboardState.files_failed > 0,
            rx.text(
                DashboardState.files_failed,
                " could not be read",
                size="2",
                color=rx.color("red", 11),
            ),
        ),
        rx.spacer(),
        _open_link("/files"),
    )


def _transactions_card() -> rx.Component:
    return card(
        "Transactions",
        "arrow-left-right",
        rx.heading(DashboardState.transactions, size="8", id="dashboard-transactions"),
        rx.text(
            "across ",
            DashboardState.projects,
            " aggregated projects",
            size="2",
            color=rx.color("gray", 11),
        ),
        rx.cond(
            DashboardState.failing_projects.length() > 0,
            rx.vstack(
                rx.text("Failing validation:", size="2", color=rx.color("red", 11)),
                rx.hstack(
                    rx.foreach(
                        DashboardState.failing_projects,
                        lambda p: rx.link(
                            rx.badge(p, color_scheme="red"), href="/projects?id=" + p
                        ),
                    ),
                    wrap="wrap",
                ),
                spacing="1",
                id="failing-projects",
            ),
            rx.cond(
                DashboardState.projects > 0,
                rx.text("All projects pass validation.", size="2", color=rx.color("green", 11)),
            ),
        ),
        rx.spacer(),
        _open_link("/projects"),
    )


def _jobs_card() -> rx.Component:
    return card(
        "Batch jobs",
        "calendar-clock",
        rx.hstack(
            rx.heading(DashboardState.jobs, size="8", id="dashboard-jobs"),
            rx.cond(
                DashboardState.running_runs > 0,
                rx.badge(DashboardState.running_runs, " running", color_scheme="blue"),
            ),
            align="center",
        ),
        rx.cond(
            DashboardState.next_run != "",
            rx.text(
                "Next run ",
                rx.moment(DashboardState.next_run, from_now=True),
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.text("Nothing scheduled.", size="2", color=rx.color("gray", 11)),
        ),
        rx.cond(
            DashboardState.failed_runs_24h > 0,
            rx.vstack(
                rx.text(
                    DashboardState.failed_runs_24h,
                    " failed runs in 24 h:",
                    size="2",
                    color=rx.color("red", 11),
                ),
                rx.hstack(
                    rx.foreach(
                        DashboardState.failed_jobs, lambda j: rx.badge(j, color_scheme="red")
                    ),
                    wrap="wrap",
                ),
                spacing="1",
            ),
            rx.cond(
                DashboardState.jobs > 0,
                rx.text("No failures in the last 24 h.", size="2", color=rx.color("green", 11)),
            ),
        ),
        rx.spacer(),
        _open_link("/batch-jobs"),
    )


def _mail_card() -> rx.Component:
    return card(
        "Mailbox",
        "mail",
        rx.heading(DashboardState.email_files_today, size="8", id="dashboard-email-today"),
        rx.text("files from email today", size="2", color=rx.color("gray", 11)),
        rx.cond(
            DashboardState.mailboxes == 0,
            rx.text("No mailbox connected.", size="2", color=rx.color("gray", 11)),
            rx.cond(
                DashboardState.mailbox_errors.length() > 0,
                rx.text(
                    "Check failing: ",
                    DashboardState.mailbox_errors.join(", "),
                    size="2",
                    color=rx.color("red", 11),
                ),
                rx.cond(
                    DashboardState.last_mail_check != "",
                    rx.text(
                        "Last check ",
                        rx.moment(DashboardState.last_mail_check, from_now=True),
                        " · connected",
                        size="2",
                        color=rx.color("green", 11),
                    ),
                    rx.text("Not checked yet.", size="2", color=rx.color("gray", 11)),
                ),
            ),
        ),
        rx.spacer(),
        _open_link("/email"),
    )


def _webhooks_card() -> rx.Component:
    return card(
        "Webhooks",
        "webhook",
        rx.heading(DashboardState.webhook_events_today, size="8", id="dashboard-webhooks-today"),
        rx.text("events today", size="2", color=rx.color("gray", 11)),
        rx.cond(
            DashboardState.webhook_rejected_today > 0,
            rx.text(
                DashboardState.webhook_rejected_today,
                " rejected (failed verification)",
                size="2",
                color=rx.color("red", 11),
            ),
            rx.text("None rejected.", size="2", color=rx.color("gray", 11)),
        ),
        rx.spacer(),
        _open_link("/webhooks"),
    )


def dashboard_page() -> rx.Component:
    return page_shell(
        "Dashboard",
        rx.text(
            "Files collected from email, cloud storage and uploads, their transactions, and the "
            "scheduled jobs that aggregate them.",
            color=rx.color("gray", 11),
        ),
        rx.grid(
            _files_card(),
            _transactions_card(),
            _jobs_card(),
            _mail_card(),
            _webhooks_card(),
            _system_card(),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="4",
            width="100%",
        ),
    )
