"""Pages whose features land in later releases: the navigation is complete from day one and
each page says plainly what it will hold."""

from __future__ import annotations

import reflex as rx

from finapp.components.layout import empty_state, page_shell


def webhooks_page() -> rx.Component:
    return page_shell(
        "Webhooks",
        empty_state(
            "webhook",
            "No webhook events",
            "Dropbox, Google Drive and OneDrive change notifications will appear here.",
        ),
    )
