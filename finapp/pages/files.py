"""Files page: drop files for a project, watch them get processed, browse, download, delete."""

from __future__ import annotations

import reflex as rx

from finapp.components.controls import confirm, filter_select, pager, trash_button
from finapp.components.layout import card, empty_state, error_callout, page_shell
from finapp.services.files import SOURCES
from finapp.state.files import UPLOAD_ID, FilesState

STATUSES = ("pending", "extracted", "failed", "skipped")
REFRESH_MS = 5_000
STATUS_COLORS = (("extracted", "green"), ("failed", "red"), ("skipped", "gray"), "amber")
OUTCOME_COLORS = (("stored", "green"), ("duplicate", "gray"), "red")


def _upload_card() -> rx.Component:
    return card(
        "Upload files",
        "upload",
        rx.hstack(
            rx.vstack(
                rx.text(
                    "Project", as_="label", html_for="upload-project", size="2", weight="medium"
                ),
                rx.input(
                    id="upload-project",
                    value=FilesState.upload_project,
                    on_change=FilesState.set_upload_project,
                    placeholder="project id, e.g. acme-2026",
                    list="known-projects",
                    max_length=64,
                    width="16rem",
                ),
                rx.el.datalist(
                    rx.foreach(FilesState.projects, lambda p: rx.el.option(value=p)),
                    id="known-projects",
                ),
                rx.text("Pick a project or type a new id.", size="1", color=rx.color("gray", 10)),
                spacing="1",
            ),
            rx.upload(
                rx.vstack(
                    rx.icon("cloud-upload", size=28, color=rx.color("accent", 10)),
                    rx.text("Drop statements here, or click to choose", weight="medium"),
                    rx.text(
                        "CSV, XLSX, XLS, OFX/QFX, PDF, PNG, JPG — up to 20 files",
                        size="1",
                        color=rx.color("gray", 10),
                    ),
                    align="center",
                    spacing="1",
                ),
                id=UPLOAD_ID,
                multiple=True,
                max_files=20,
                accept={
                    "text/csv": [".csv"],
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": [".xlsx"],
                    "application/vnd.ms-excel": [".xls"],
                    "application/x-ofx": [".ofx", ".qfx"],
                    "application/pdf": [".pdf"],
                    "image/png": [".png"],
                    "image/jpeg": [".jpg", ".jpeg"],
                },
                border=f"2px dashed {rx.color('accent', 7)}",
                border_radius="var(--radius-4)",
                padding="1.5rem",
                flex="1",
                cursor="pointer",
                background=rx.color("accent", 2),
            ),
            spacing="5",
            width="100%",
            align="start",
        ),
        rx.hstack(
            rx.foreach(
                rx.selected_files(UPLOAD_ID),
                lambda name: rx.badge(rx.icon("file", size=12), name, variant="surface"),
            ),
            wrap="wrap",
            spacing="2",
        ),
        rx.hstack(
            rx.button(
                rx.icon("upload", size=16),
                "Upload",
                id="upload-button",
                loading=FilesState.uploading,
                on_click=FilesState.handle_upload(
                    rx.upload_files(
                        upload_id=UPLOAD_ID,
                        on_upload_progress=FilesState.upload_progress_changed,
                    )
                ),
            ),
            rx.button(
                "Clear",
                variant="soft",
                color_scheme="gray",
                on_click=rx.clear_selected_files(UPLOAD_ID),
            ),
            rx.cond(
                FilesState.uploading,
                rx.hstack(
                    rx.progress(value=FilesState.upload_progress, width="12rem"),
                    rx.text(FilesState.upload_progress, "%", size="1"),
                    align="center",
                ),
            ),
            rx.cond(
                FilesState.processing,
                rx.hstack(
                    rx.spinner(size="1"),
                    rx.text("Extracting transactions…", size="2"),
                    align="center",
                    id="processing",
                ),
            ),
            align="center",
            spacing="3",
        ),
        error_callout(FilesState.error, width="100%"),
        rx.cond(
            FilesState.upload_results.length() > 0,
            rx.vstack(
                rx.foreach(
                    FilesState.upload_results,
                    lambda r: rx.hstack(
                        rx.badge(
                            r["outcome"], color_scheme=rx.match(r["outcome"], *OUTCOME_COLORS)
                        ),
                        rx.text(r["name"], weight="medium", size="2"),
                        rx.text(r["detail"], size="2", color=rx.color("gray", 11)),
                        align="center",
                        spacing="2",
                    ),
                ),
                spacing="1",
                id="upload-results",
            ),
        ),
    )


def _delete_button(row: rx.Var[dict[str, str]]) -> rx.Component:
    return confirm(
        trash_button("Delete file"),
        title="Delete this file?",
        description=[
            "“",
            row["name"],
            "” and the transactions extracted from it will be removed. This cannot be undone.",
        ],
        confirm_label="Delete file",
        on_confirm=FilesState.delete_file(row["id"]),
    )


def _file_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(
                row["name"],
                href="/api/files/" + row["id"] + "/content",
                weight="medium",
                is_external=True,
            ),
        ),
        rx.table.cell(rx.link(row["project_id"], href="/projects?id=" + row["project_id"])),
        rx.table.cell(rx.text(row["source"], size="2")),
        rx.table.cell(rx.code(row["kind"], size="1")),
        rx.table.cell(rx.text(row["size"], size="2", white_space="nowrap")),
        rx.table.cell(rx.moment(row["received_at"], format="YYYY-MM-DD HH:mm", local=True)),
        rx.table.cell(
            rx.vstack(
                rx.badge(row["status"], color_scheme=rx.match(row["status"], *STATUS_COLORS)),
                rx.text(row["detail"], size="1", color=rx.color("gray", 11), max_width="22rem"),
                spacing="1",
            )
        ),
        rx.table.cell(_delete_button(row)),
        align="center",
    )


def _files_table() -> rx.Component:
    headers = ("Name", "Project", "Source", "Type", "Size", "Received", "Status", "")
    return rx.cond(
        FilesState.loading,
        rx.center(rx.spinner(size="3"), padding="3rem", width="100%"),
        rx.cond(
            FilesState.files.length() > 0,
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                    ),
                    rx.table.body(rx.foreach(FilesState.files, _file_row)),
                    width="100%",
                    variant="surface",
                    id="files-table",
                ),
                pager(
                    FilesState.page_label,
                    at_start=FilesState.page == 0,
                    has_next=FilesState.has_next,
                    on_previous=FilesState.previous_page,
                    on_next=FilesState.next_page,
                ),
                width="100%",
            ),
            empty_state(
                "folder-open", "No files match", "Upload a statement above, or change the filters."
            ),
        ),
    )


def files_page() -> rx.Component:
    return page_shell(
        "Files",
        _upload_card(),
        card(
            "All files",
            "files",
            rx.hstack(
                filter_select(
                    "Project",
                    FilesState.projects,
                    FilesState.filter_project,
                    FilesState.set_filter_project,
                ),
                filter_select(
                    "Source", list(SOURCES), FilesState.filter_source, FilesState.set_filter_source
                ),
                filter_select(
                    "Status", list(STATUSES), FilesState.filter_status, FilesState.set_filter_status
                ),
                spacing="4",
                wrap="wrap",
            ),
            _files_table(),
            rx.moment(interval=REFRESH_MS, on_change=FilesState.tick, display="none"),
        ),
    )
