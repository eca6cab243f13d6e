"""The application shell: sidebar navigation, header with the user, and the page body.

Protected content renders only once the server has confirmed the session; until then a
spinner shows, so a signed-out visitor never sees a flash of the page before the redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from finapp.state.auth import AuthState

SIDEBAR_WIDTH = "15rem"


@dataclass(frozen=True)
class NavItem:
    label: str
    route: str
    icon: str


NAV_ITEMS = (
    NavItem("Dashboard", "/", "layout-dashboard"),
    NavItem("Batch jobs", "/batch-jobs", "calendar-clock"),
    NavItem("Email", "/email", "mail"),
    NavItem("Webhooks", "/webhooks", "webhook"),
    NavItem("Files", "/files", "folder-open"),
    NavItem("Projects", "/projects", "briefcase"),
    NavItem("Settings", "/settings", "settings"),
)


def _nav_link(item: NavItem) -> rx.Component:
    active = AuthState.current_path == item.route
    return rx.link(
        rx.hstack(
            rx.icon(item.icon, size=18),
            rx.text(item.label, size="2", weight="medium"),
            align="center",
            spacing="3",
            padding_x="0.75rem",
            padding_y="0.5rem",
            border_radius="var(--radius-3)",
            width="100%",
            background=rx.cond(active, rx.color("accent", 4), "transparent"),
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 11)),
            _hover={"background": rx.color("accent", 3), "color": rx.color("accent", 11)},
        ),
        href=item.route,
        underline="none",
        width="100%",
        id=f"nav-{item.route.strip('/') or 'dashboard'}",
    )


def brand() -> rx.Component:
    return rx.hstack(
        rx.box(
            rx.icon("landmark", size=18, color="white"),
            background=rx.color("accent", 9),
            border_radius="var(--radius-3)",
            padding="0.4rem",
            display="flex",
        ),
        rx.text("finapp", size="5", weight="bold"),
        align="center",
        spacing="2",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.box(brand(), padding_x="0.75rem", padding_y="0.5rem"),
        rx.vstack(*[_nav_link(item) for item in NAV_ITEMS], spacing="1", width="100%"),
        rx.spacer(),
        rx.text(
            "Self-hosted finance automation",
            size="1",
            color=rx.color("gray", 10),
            padding="0.75rem",
        ),
        width=SIDEBAR_WIDTH,
        min_width=SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        padding="1rem 0.75rem",
        spacing="5",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
    )


def header(title: str) -> rx.Component:
    return rx.hstack(
        rx.heading(title, size="6", weight="bold"),
        rx.spacer(),
        rx.color_mode.button(size="2", variant="ghost"),
        rx.hstack(
            rx.avatar(fallback=AuthState.user_initial, size="2", radius="full"),
            rx.text(AuthState.username, size="2", weight="medium", id="current-user"),
            align="center",
            spacing="2",
        ),
        rx.button(
            rx.icon("log-out", size=16),
            "Sign out",
            on_click=AuthState.logout,
            variant="soft",
            color_scheme="gray",
            size="2",
            id="logout-button",
        ),
        align="center",
        spacing="4",
        width="100%",
        padding_x="2rem",
        padding_y="1rem",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        position="sticky",
        top="0",
        z_index="10",
    )


def loading_screen(label: str = "Checking your session…") -> rx.Component:
    return rx.center(
        rx.vstack(rx.spinner(size="3"), rx.text(label, color=rx.color("gray", 10)), align="center"),
        height="100vh",
        width="100%",
    )


def page_shell(title: str, *children: rx.Component) -> rx.Component:
    """Wrap a protected page: shell when signed in, spinner while the session is checked."""
    return rx.cond(
        AuthState.is_authenticated,
        rx.hstack(
            sidebar(),
            rx.box(
                header(title),
                rx.box(
                    rx.vstack(*children, spacing="5", width="100%", max_width="72rem"),
                    padding="2rem",
                ),
                flex="1",
                min_width="0",
            ),
            spacing="0",
            align="start",
            width="100%",
        ),
        loading_screen(),
    )


def card(title: str, icon: str, *children: rx.Component, **props: object) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon(icon, size=18, color=rx.color("accent", 10)),
                rx.text(title, size="2", weight="medium", color=rx.color("gray", 11)),
                align="center",
                spacing="2",
            ),
            *children,
            spacing="3",
            height="100%",
        ),
        size="3",
        width="100%",
        **props,
    )


def empty_state(icon: str, title: str, message: str) -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.box(
                rx.icon(icon, size=28, color=rx.color("gray", 10)),
                background=rx.color("gray", 3),
                border_radius="full",
                padding="1rem",
                display="flex",
            ),
            rx.heading(title, size="4"),
            rx.text(message, color=rx.color("gray", 11), text_align="center", max_width="32rem"),
            align="center",
            spacing="3",
        ),
        padding="4rem 2rem",
        width="100%",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
    )


def error_callout(message: rx.Var[str], **props: object) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", **props),
    )


def success_callout(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="circle-check", color_scheme="green"),
    )
