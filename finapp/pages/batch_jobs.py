"""Batch jobs page: scheduled aggregation jobs, their runs, and a form with live preview."""

from __future__ import annotations

from zoneinfo import available_timezones

import reflex as rx

from finapp.components.controls import confirm, pager, trash_button
from finapp.components.layout import card, empty_state, error_callout, page_shell
from finapp.state.batch_jobs import CUSTOM, PRESETS, BatchJobsState

STATUS_COLORS = (
    ("scheduled", "green"),
    ("running", "blue"),
    ("paused", "gray"),
    ("failed", "red"),
    "gray",
)
RUN_COLORS = (
    ("completed", "green"),
    ("running", "blue"),
    ("queued", "gray"),
    ("skipped", "gray"),
    ("missed", "amber"),
    "red",
)
ZONES = sorted(available_timezones())


def _field(label: str, control: rx.Component, hint: str = "") -> rx.Component:
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        control,
        rx.cond(hint != "", rx.text(hint, size="1", color=rx.color("gray", 10))),
        spacing="1",
        width="100%",
    )


def _schedule_preview() -> rx.Component:
    return rx.cond(
        BatchJobsState.preview_error != "",
        rx.callout(
            BatchJobsState.preview_error,
            icon="triangle-alert",
            color_scheme="red",
            size="1",
            id="schedule-error",
        ),
        rx.box(
            rx.text(BatchJobsState.preview_description, weight="medium", id="schedule-description"),
            rx.text("Next runs (your time):", size="1", color=rx.color("gray", 10)),
            rx.vstack(
                rx.foreach(
                    BatchJobsState.preview_runs,
                    lambda t: rx.moment(t, format="ddd YYYY-MM-DD HH:mm", local=True, size="1"),
                ),
                spacing="0",
                id="schedule-next-runs",
            ),
            padding="0.75rem",
            background=rx.color("accent", 2),
            border_radius="var(--radius-3)",
            width="100%",
        ),
    )


def _job_form() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(
                rx.cond(BatchJobsState.editing != "", "Edit job", "New aggregation job")
            ),
            rx.vstack(
                error_callout(BatchJobsState.form_error, width="100%", id="job-form-error"),
                _field(
                    "Job id",
                    rx.input(
                        value=BatchJobsState.form_job_id,
                        on_change=BatchJobsState.set_form_job_id,
                        disabled=BatchJobsState.editing != "",
                        placeholder="nightly-acme",
                        id="job-id-input",
                        width="100%",
                    ),
                ),
                _field(
                    "Project",
                    rx.input(
                        value=BatchJobsState.form_project,
                        on_change=BatchJobsState.set_form_project,
                        list="job-projects",
                        placeholder="acme",
                        id="job-project-input",
                        width="100%",
                    ),
                ),
                rx.el.datalist(
                    rx.foreach(BatchJobsState.projects, lambda p: rx.el.option(value=p)),
                    id="job-projects",
                ),
                _field(
                    "Schedule",
                    rx.hstack(
                        rx.select(
                            [*PRESETS, CUSTOM],
                            value=BatchJobsState.form_preset,
                            on_change=BatchJobsState.choose_preset,
                            id="schedule-preset",
                        ),
                        rx.input(
                            value=BatchJobsState.form_schedule,
                            on_change=BatchJobsState.set_form_schedule.debounce(250),
                            placeholder="m h dom mon dow",
                            font_family="monospace",
                            id="schedule-input",
                            flex="1",
                        ),
                        width="100%",
                    ),
                    "Five fields: minute hour day-of-month month day-of-week (0 and 7 = Sunday).",
                ),
                _field(
                    "Time zone",
                    rx.input(
                        value=BatchJobsState.form_timezone,
                        on_change=BatchJobsState.set_form_timezone.debounce(250),
                        list="job-zones",
                        id="job-timezone-input",
                        width="100%",
                    ),
                ),
                rx.el.datalist(*[rx.el.option(value=z) for z in ZONES], id="job-zones"),
                _schedule_preview(),
                rx.hstack(
                    _field(
                        "Timeout (s)",
                        rx.input(
                            value=BatchJobsState.form_timeout,
                            type="number",
                            on_change=BatchJobsState.set_form_timeout,
                        ),
                    ),
                    _field(
                        "Retries",
                        rx.input(
                            value=BatchJobsState.form_retries,
                            type="number",
                            on_change=BatchJobsState.set_form_retries,
                        ),
                    ),
                    _field(
                        "Backoff (s)",
                        rx.input(
                            value=BatchJobsState.form_backoff,
                            type="number",
                            on_change=BatchJobsState.set_form_backoff,
                        ),
                    ),
                    width="100%",
                ),
                rx.hstack(
                    rx.switch(
                        checked=BatchJobsState.form_enabled,
                        on_change=BatchJobsState.set_form_enabled,
                    ),
                    rx.text("Enabled", size="2"),
                    align="center",
                ),
                rx.hstack(
                    rx.button(
                        "Cancel",
                        variant="soft",
                        color_scheme="gray",
                        on_click=BatchJobsState.close_form,
                    ),
                    rx.button(
                        "Save job",
                        on_click=BatchJobsState.save,
                        id="save-job",
                        disabled=BatchJobsState.preview_error != "",
                    ),
                    justify="end",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
            max_width="34rem",
        ),
        open=BatchJobsState.form_open,
        on_open_change=BatchJobsState.set_form_open,
    )


def _confirm_delete(row: rx.Var[dict[str, str]]) -> rx.Component:
    return confirm(
        trash_button("Delete job"),
        title="Delete this job?",
        description=[
            "“",
            row["job_id"],
            "” and its whole run history will be deleted. This cannot be undone.",
        ],
        confirm_label="Delete job",
        on_confirm=BatchJobsState.delete(row["job_id"]),
    )


def _actions(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.hstack(
        rx.button(
            rx.icon("play", size=14),
            "Run now",
            size="1",
            variant="soft",
            on_click=BatchJobsState.run_now(row["job_id"]),
        ),
        rx.cond(
            row["enabled"] != "",
            rx.button(
                "Pause",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=BatchJobsState.pause(row["job_id"]),
            ),
            rx.button(
                "Resume",
                size="1",
                variant="soft",
                color_scheme="green",
                on_click=BatchJobsState.resume(row["job_id"]),
            ),
        ),
        rx.icon_button(
            rx.icon("pencil", size=14),
            size="1",
            variant="ghost",
            aria_label="Edit job",
            on_click=BatchJobsState.open_edit(row["job_id"]),
        ),
        rx.icon_button(
            rx.icon("history", size=14),
            size="1",
            variant="ghost",
            aria_label="Run history",
            on_click=BatchJobsState.show_history(row["job_id"]),
        ),
        _confirm_delete(row),
        spacing="2",
        align="center",
    )


def _job_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(row["job_id"], weight="medium"),
                rx.cond(
                    row["project_id"] != "",
                    rx.link(row["project_id"], href="/projects?id=" + row["project_id"], size="1"),
                    rx.text("all mailboxes", size="1", color=rx.color("gray", 10)),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row["description"], size="2"),
                rx.text(
                    rx.code(row["schedule"], size="1"),
                    " ",
                    row["timezone"],
                    size="1",
                    color=rx.color("gray", 10),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.badge(
                row["status"],
                color_scheme=rx.match(row["status"], *STATUS_COLORS),
                class_name="job-status",
            )
        ),
        rx.table.cell(
            rx.cond(
                row["next_run"] != "",
                rx.moment(row["next_run"], format="ddd MM-DD HH:mm", local=True),
                rx.text("—", color=rx.color("gray", 9)),
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.cond(
                    row["last_status"] != "",
                    rx.hstack(
                        rx.badge(
                            row["last_status"],
                            color_scheme=rx.match(row["last_status"], *RUN_COLORS),
                            variant="outline",
                        ),
                        rx.moment(row["last_at"], from_now=True, size="1"),
                        align="center",
                    ),
                    rx.text("Never run", size="2", color=rx.color("gray", 9)),
                ),
                rx.text(
                    row["summary"], size="1", color=rx.color("gray", 11), class_name="last-result"
                ),
                spacing="1",
            )
        ),
        rx.table.cell(_actions(row)),
        align="center",
        data_job=row["job_id"],
    )


def _history() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Runs of ", BatchJobsState.history_job),
            rx.text(
                BatchJobsState.history_total,
                " runs (newest first, the last 50 shown)",
                size="2",
                color=rx.color("gray", 11),
            ),
            rx.scroll_area(
                rx.vstack(
                    rx.foreach(
                        BatchJobsState.history,
                        lambda run: rx.box(
                            rx.hstack(
                                rx.badge(
                                    run["status"], color_scheme=rx.match(run["status"], *RUN_COLORS)
                                ),
                                rx.text(
                                    "#",
                                    run["id"],
                                    " · ",
                                    run["trigger"],
                                    " · attempt ",
                                    run["attempt"],
                                    size="2",
                                ),
                                rx.spacer(),
                                rx.moment(
                                    run["scheduled_for"],
                                    format="YYYY-MM-DD HH:mm:ss",
                                    local=True,
                                    size="1",
                                ),
                                rx.text(run["duration"], size="1"),
                                align="center",
                                width="100%",
                            ),
                            rx.cond(run["result"] != "", rx.text(run["result"], size="2")),
                            rx.cond(
                                run["error"] != "",
                                rx.code_block(
                                    run["error"],
                                    language="log",
                                    wrap_long_lines=True,
                                    font_size="11px",
                                ),
                            ),
                            rx.cond(
                                run["log"] != "",
                                rx.el.details(
                                    rx.el.summary("Log"),
                                    rx.code_block(run["log"], language="log", font_size="11px"),
                                ),
                            ),
                            padding="0.75rem",
                            border=f"1px solid {rx.color('gray', 5)}",
                            border_radius="var(--radius-3)",
                            width="100%",
                        ),
                    ),
                    spacing="2",
                    id="run-history",
                ),
                max_height="60vh",
                type="auto",
            ),
            max_width="48rem",
        ),
        open=BatchJobsState.history_open,
        on_open_change=BatchJobsState.set_history_open,
    )


def _jobs_table() -> rx.Component:
    headers = ("Job", "Schedule", "Status", "Next run", "Last run", "")
    return rx.cond(
        BatchJobsState.loading,
        rx.center(rx.spinner(size="3"), padding="3rem", width="100%"),
        rx.cond(
            BatchJobsState.jobs.length() > 0,
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                    ),
                    rx.table.body(rx.foreach(BatchJobsState.jobs, _job_row)),
                    width="100%",
                    variant="surface",
                    id="jobs-table",
                ),
                pager(
                    BatchJobsState.page_label,
                    at_start=BatchJobsState.page == 0,
                    has_next=BatchJobsState.has_next,
                    on_previous=BatchJobsState.previous_page,
                    on_next=BatchJobsState.next_page,
                ),
                width="100%",
            ),
            empty_state(
                "calendar-clock",
                "No batch jobs yet",
                "Create a job to aggregate a project on a schedule.",
            ),
        ),
    )


def batch_jobs_page() -> rx.Component:
    return page_shell(
        "Batch jobs",
        rx.hstack(
            rx.text(
                "Scheduled aggregation of each project's files. Times are shown in your time zone.",
                color=rx.color("gray", 11),
            ),
            rx.spacer(),
            rx.button(
                rx.icon("plus", size=16),
                "New job",
                on_click=BatchJobsState.open_create,
                id="new-job",
            ),
            width="100%",
            align="center",
        ),
        error_callout(BatchJobsState.error, width="100%"),
        card("Jobs", "calendar-clock", _jobs_table()),
        _job_form(),
        _history(),
    )
