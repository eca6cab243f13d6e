"""Webhooks page: one card per provider with its URL and setup, statistics, the live event
log with filters, and the detail of one event."""

from __future__ import annotations

import reflex as rx

from finapp.components.controls import filter_select, pager
from finapp.components.layout import card, empty_state, error_callout, page_shell
from finapp.state.webhooks import WebhooksState

STATUS_COLORS = (("accepted", "green"), ("duplicate", "gray"), ("rejected", "red"), "gray")


def _provider_card(p: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(p["name"], weight="bold", size="4"),
                rx.spacer(),
                rx.cond(
                    p["configured"] != "",
                    rx.badge("configured", color_scheme="green"),
                    rx.badge("not configured", color_scheme="amber"),
                ),
                rx.badge(p["events"], " events", variant="soft"),
                width="100%",
                align="center",
            ),
            rx.text("Webhook URL", size="1", color=rx.color("gray", 10)),
            rx.hstack(
                rx.code(p["url"], size="1", word_break="break-all"),
                rx.icon_button(
                    rx.icon("copy", size=14),
                    size="1",
                    variant="ghost",
                    aria_label="Copy URL",
                    on_click=[rx.set_clipboard(p["url"]), rx.toast.info("URL copied")],
                ),
                align="center",
            ),
            rx.cond(
                p["configured"] == "",
                rx.text(
                    "Notifications are rejected until ",
                    rx.code(p["setting"]),
                    " is set.",
                    size="2",
                    color=rx.color("amber", 11),
                ),
            ),
            rx.cond(
                p["last_event_at"] != "",
                rx.text(
                    "Last event ",
                    rx.moment(p["last_event_at"], from_now=True),
                    " · ",
                    p["last_event_type"],
                    size="2",
                    color=rx.color("gray", 11),
                ),
                rx.text("No events yet.", size="2", color=rx.color("gray", 10)),
            ),
            rx.cond(
                p["lifecycle"] != "",
                rx.callout(
                    "Lifecycle: " + p["lifecycle"] + " — renew the subscription.",
                    icon="triangle-alert",
                    color_scheme="amber",
                    size="1",
                ),
            ),
            rx.cond(
                p["last_error"] != "",
                rx.text("Last rejection: ", p["last_error"], size="1", color=rx.color("red", 11)),
            ),
            rx.text(p["setup"], size="1", color=rx.color("gray", 10)),
            spacing="2",
            width="100%",
        ),
        size="2",
        class_name="provider-card",
    )


def _stats() -> rx.Component:
    chart = rx.recharts.bar_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3"),
        rx.recharts.x_axis(data_key="day"),
        rx.recharts.y_axis(allow_decimals=False),
        rx.recharts.graphing_tooltip(),
        rx.recharts.legend(),
        rx.recharts.bar(
            data_key="Accepted", is_animation_active=False, stack_id="a", fill=rx.color("green", 9)
        ),
        rx.recharts.bar(
            data_key="Duplicate", is_animation_active=False, stack_id="a", fill=rx.color("gray", 8)
        ),
        rx.recharts.bar(
            data_key="Rejected", is_animation_active=False, stack_id="a", fill=rx.color("red", 9)
        ),
        data=WebhooksState.per_day,
        width="100%",
        height=220,
    )
    return rx.grid(
        card("Events per day (14 days)", "chart-column", rx.box(chart, width="100%")),
        card(
            "By type",
            "list",
            rx.cond(
                WebhooksState.by_type.length() > 0,
                rx.vstack(
                    rx.foreach(
                        WebhooksState.by_type,
                        lambda t: rx.hstack(
                            rx.code(t["type"], size="1"),
                            rx.spacer(),
                            rx.text(t["count"]),
                            width="100%",
                        ),
                    ),
                    width="100%",
                    spacing="1",
                ),
                rx.text("No events yet.", color=rx.color("gray", 10)),
            ),
        ),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="4",
        width="100%",
    )


def _events() -> rx.Component:
    headers = ("Received", "Provider", "Type", "Status", "Account / channel", "Verification")
    return card(
        "Recent events",
        "activity",
        rx.hstack(
            filter_select(
                "Provider",
                ["dropbox", "google-drive", "onedrive"],
                WebhooksState.filter_provider,
                WebhooksState.set_filter_provider,
            ),
            filter_select(
                "Status",
                ["accepted", "duplicate", "rejected"],
                WebhooksState.filter_status,
                WebhooksState.set_filter_status,
            ),
            spacing="4",
            wrap="wrap",
        ),
        rx.cond(
            WebhooksState.events.length() > 0,
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(*[rx.table.column_header_cell(h) for h in headers])
                    ),
                    rx.table.body(
                        rx.foreach(
                            WebhooksState.events,
                            lambda e: rx.table.row(
                                rx.table.cell(
                                    rx.moment(e["timestamp"], format="MM-DD HH:mm:ss", local=True)
                                ),
                                rx.table.cell(e["provider"]),
                                rx.table.cell(rx.code(e["event_type"], size="1")),
                                rx.table.cell(
                                    rx.badge(
                                        e["status"],
                                        color_scheme=rx.match(e["status"], *STATUS_COLORS),
                                    )
                                ),
                                rx.table.cell(rx.text(e["account"], size="1")),
                                rx.table.cell(rx.text(e["verification"], size="1")),
                                on_click=WebhooksState.show_event(e["id"]),
                                cursor="pointer",
                                _hover={"background": rx.color("accent", 2)},
                            ),
                        )
                    ),
                    width="100%",
                    variant="surface",
                    id="webhook-events",
                ),
                pager(
                    WebhooksState.page_label,
                    at_start=WebhooksState.page == 0,
                    has_next=WebhooksState.has_next,
                    on_previous=WebhooksState.previous_page,
                    on_next=WebhooksState.next_page,
                ),
                width="100%",
            ),
            empty_state(
                "webhook",
                "No webhook events",
                "Register the URLs above with the providers; events appear here live.",
            ),
        ),
    )


def _detail() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(WebhooksState.detail["title"]),
            rx.vstack(
                rx.hstack(
                    rx.badge(WebhooksState.detail["status"]),
                    rx.text(WebhooksState.detail["verification"], size="2"),
                    rx.spacer(),
                    rx.text(
                        "from ",
                        WebhooksState.detail["client"],
                        size="1",
                        color=rx.color("gray", 10),
                    ),
                    width="100%",
                ),
                rx.cond(
                    WebhooksState.detail["error"] != "",
                    rx.callout(WebhooksState.detail["error"], color_scheme="red", size="1"),
                ),
                rx.text("Headers (secrets are never stored)", size="1", weight="medium"),
                rx.code_block(WebhooksState.detail["headers"], language="json", font_size="11px"),
                rx.text("Body", size="1", weight="medium"),
                rx.code_block(
                    WebhooksState.detail["body"],
                    language="json",
                    font_size="11px",
                    wrap_long_lines=True,
                ),
                spacing="2",
                width="100%",
                id="event-detail",
            ),
            max_width="46rem",
        ),
        open=WebhooksState.detail_open,
        on_open_change=WebhooksState.set_detail_open,
    )


def webhooks_page() -> rx.Component:
    return page_shell(
        "Webhooks",
        rx.cond(
            WebhooksState.loading,
            rx.center(rx.spinner(size="3"), padding="3rem", width="100%"),
            rx.vstack(
                error_callout(WebhooksState.error, width="100%"),
                rx.grid(
                    rx.foreach(WebhooksState.providers, _provider_card),
                    columns=rx.breakpoints(initial="1", lg="3"),
                    spacing="4",
                    width="100%",
                ),
                _stats(),
                _events(),
                spacing="4",
                width="100%",
            ),
        ),
        _detail(),
    )
