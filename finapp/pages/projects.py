"""Project page: the latest report with charts, validation problems and the transactions."""

from __future__ import annotations

import reflex as rx

from finapp.components.controls import pager
from finapp.components.layout import card, empty_state, error_callout, page_shell
from finapp.state.projects import ProjectsState


def _toolbar() -> rx.Component:
    return rx.hstack(
        rx.select(
            ProjectsState.projects,
            value=ProjectsState.project_id,
            on_change=ProjectsState.select_project,
            placeholder="Choose a project",
            id="project-select",
        ),
        rx.spacer(),
        rx.button(
            rx.icon("refresh-cw", size=16),
            "Aggregate now",
            loading=ProjectsState.aggregating,
            on_click=ProjectsState.aggregate_now,
            id="aggregate-button",
        ),
        rx.link(
            rx.button(rx.icon("download", size=16), "Export CSV", variant="soft"),
            href=ProjectsState.export_url,
            is_external=True,
        ),
        width="100%",
        align="center",
    )


def _stat(label: str, value: rx.Component, icon: str) -> rx.Component:
    return card(label, icon, value)


def _stats() -> rx.Component:
    return rx.grid(
        _stat(
            "Validation",
            rx.hstack(
                rx.badge(
                    rx.cond(ProjectsState.is_valid, "Valid", "Invalid"),
                    color_scheme=rx.cond(ProjectsState.is_valid, "green", "red"),
                    size="3",
                    id="report-validity",
                ),
                rx.cond(
                    ~ProjectsState.is_valid,
                    rx.text(ProjectsState.error_count, " problems", size="2"),
                ),
                align="center",
            ),
            "shield-check",
        ),
        _stat(
            "Files processed",
            rx.heading(ProjectsState.files_processed, size="7", id="report-files"),
            "file-text",
        ),
        _stat(
            "Transactions",
            rx.heading(ProjectsState.transaction_count, size="7", id="report-transactions"),
            "arrow-left-right",
        ),
        _stat(
            "Period",
            rx.text(ProjectsState.date_from, " → ", ProjectsState.date_to, weight="medium"),
            "calendar",
        ),
        columns=rx.breakpoints(initial="2", lg="4"),
        spacing="4",
        width="100%",
    )


def _totals() -> rx.Component:
    return card(
        "Totals",
        "sigma",
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Currency", "In", "Out", "Net", "Transactions")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ProjectsState.totals,
                    lambda t: rx.table.row(
                        rx.table.cell(rx.code(t["currency"])),
                        rx.table.cell(t["in"], color=rx.color("green", 11)),
                        rx.table.cell(t["out"], color=rx.color("red", 11)),
                        rx.table.cell(rx.text(t["net"], weight="bold")),
                        rx.table.cell(t["count"]),
                    ),
                )
            ),
            width="100%",
            id="totals-table",
        ),
    )


def _charts() -> rx.Component:
    monthly = rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.x_axis(data_key="month"),
        rx.recharts.y_axis(),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        rx.recharts.bar(data_key="In", is_animation_active=False, fill=rx.color("green", 9)),
        rx.recharts.bar(data_key="Out", is_animation_active=False, fill=rx.color("red", 9)),
        data=ProjectsState.monthly,
        width="100%",
        height=280,
    )
    categories = rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.x_axis(type_="number"),
        rx.recharts.y_axis(data_key="category", type_="category", width=120),
        rx.recharts.graphing_tooltip(),
        rx.recharts.bar(data_key="Spent", is_animation_active=False, fill=rx.color("accent", 9)),
        data=ProjectsState.categories,
        layout="vertical",
        width="100%",
        height=280,
    )
    return rx.grid(
        card(
            "Money in and out per month",
            "chart-column",
            rx.text("in ", ProjectsState.chart_currency, size="1", color=rx.color("gray", 10)),
            rx.box(monthly, width="100%", id="monthly-chart"),
        ),
        card(
            "Spending by category",
            "chart-bar",
            rx.cond(
                ProjectsState.categories.length() > 0,
                rx.box(categories, width="100%", id="category-chart"),
                rx.text("No categorised spending.", color=rx.color("gray", 10)),
            ),
        ),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="4",
        width="100%",
    )


def _problems() -> rx.Component:
    return rx.cond(
        (ProjectsState.problems.length() > 0) | (ProjectsState.warnings.length() > 0),
        card(
            "Validation",
            "triangle-alert",
            rx.cond(
                ProjectsState.problems.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("File"),
                            rx.table.column_header_cell("Row"),
                            rx.table.column_header_cell("Problem"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            ProjectsState.problems,
                            lambda p: rx.table.row(
                                rx.table.cell(p["file"]),
                                rx.table.cell(p["row"]),
                                rx.table.cell(p["message"], color=rx.color("red", 11)),
                            ),
                        )
                    ),
                    width="100%",
                    id="problems-table",
                ),
            ),
            rx.foreach(
                ProjectsState.warnings,
                lambda w: rx.callout(w, icon="info", color_scheme="amber", size="1", width="100%"),
            ),
        ),
    )


def _transactions() -> rx.Component:
    return card(
        "Transactions",
        "list",
        rx.input(
            placeholder="Search description, category or account",
            value=ProjectsState.tx_search,
            on_change=ProjectsState.search_transactions.debounce(300),
            width="24rem",
            id="tx-search",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Date", "Description", "Category", "Account", "Amount")
                    ]
                )
            ),
            rx.table.body(
                rx.foreach(
                    ProjectsState.tx_rows,
                    lambda t: rx.table.row(
                        rx.table.cell(t["date"], white_space="nowrap"),
                        rx.table.cell(t["description"]),
                        rx.table.cell(t["category"]),
                        rx.table.cell(t["account"]),
                        rx.table.cell(
                            rx.text(
                                t["amount"],
                                " ",
                                t["currency"],
                                color=rx.cond(
                                    t["negative"] != "", rx.color("red", 11), rx.color("green", 11)
                                ),
                                white_space="nowrap",
                            ),
                            text_align="right",
                        ),
                    ),
                )
            ),
            width="100%",
            id="transactions-table",
        ),
        pager(
            ProjectsState.tx_page_label,
            at_start=ProjectsState.tx_page == 0,
            has_next=ProjectsState.tx_has_next,
            on_previous=ProjectsState.previous_tx_page,
            on_next=ProjectsState.next_tx_page,
        ),
    )


def projects_page() -> rx.Component:
    return page_shell(
        "Projects",
        rx.cond(
            ProjectsState.loading,
            rx.center(rx.spinner(size="3"), padding="3rem", width="100%"),
            rx.cond(
                ProjectsState.projects.length() > 0,
                rx.vstack(
                    _toolbar(),
                    error_callout(ProjectsState.error, width="100%"),
                    rx.cond(
                        ProjectsState.has_report,
                        rx.vstack(
                            rx.text(
                                "Report of ",
                                rx.moment(
                                    ProjectsState.report_time, format="YYYY-MM-DD HH:mm", local=True
                                ),
                                size="2",
                                color=rx.color("gray", 11),
                            ),
                            _stats(),
                            _problems(),
                            _totals(),
                            _charts(),
                            spacing="4",
                            width="100%",
                        ),
                        empty_state(
                            "chart-no-axes-column",
                            "Not aggregated yet",
                            "Run “Aggregate now” to extract the files and build the report.",
                        ),
                    ),
                    _transactions(),
                    spacing="4",
                    width="100%",
                ),
                empty_state(
                    "briefcase",
                    "No projects yet",
                    "Upload a file on the Files page; its project appears here.",
                ),
            ),
        ),
    )
