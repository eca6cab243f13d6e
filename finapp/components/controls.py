"""Small controls every list page uses the same way: a pager and a confirmed destructive action."""

from __future__ import annotations

from typing import Any

import reflex as rx


def pager(
    label: rx.Var[str],
    *,
    at_start: rx.Var[bool],
    has_next: rx.Var[bool],
    on_previous: Any,
    on_next: Any,
) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", color=rx.color("gray", 11)),
        rx.spacer(),
        rx.button(
            rx.icon("chevron-left", size=14),
            "Previous",
            variant="soft",
            size="1",
            disabled=at_start,
            on_click=on_previous,
        ),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=14),
            variant="soft",
            size="1",
            disabled=~has_next,
            on_click=on_next,
        ),
        width="100%",
        align="center",
    )


def trash_button(label: str) -> rx.Component:
    return rx.icon_button(
        rx.icon("trash-2", size=14), color_scheme="red", variant="ghost", size="1", aria_label=label
    )


def confirm(
    trigger: rx.Component,
    *,
    title: str,
    description: list[Any],
    confirm_label: str,
    on_confirm: Any,
) -> rx.Component:
    """A destructive action behind an alert dialog that says what will be lost."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(*description),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme="red", on_click=on_confirm)
                ),
                spacing="3",
                justify="end",
                margin_top="1rem",
            ),
        ),
    )


ALL = "all"  # a select cannot hold an empty value, so "no filter" has a name


def filter_select(
    label: str, items: list[str] | rx.Var, value: rx.Var[str], on_change: rx.EventHandler
) -> rx.Component:
    """A labelled select whose first choice, "All", means no filter."""
    choices = (
        rx.foreach(items, lambda item: rx.select.item(item, value=item))
        if isinstance(items, rx.Var)
        else rx.fragment(*[rx.select.item(i.capitalize(), value=i) for i in items])
    )
    return rx.hstack(
        rx.text(label, size="2", color=rx.color("gray", 11)),
        rx.select.root(
            rx.select.trigger(min_width="9rem"),
            rx.select.content(rx.select.item("All", value=ALL), choices),
            value=value,
            on_change=on_change,
            size="2",
        ),
        align="center",
        spacing="2",
    )
