"""Sign-in page (the only page reachable without a session)."""

from __future__ import annotations

import reflex as rx

from finapp.components.layout import brand, error_callout
from finapp.state.auth import AuthState


def login_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.form(
                rx.vstack(
                    brand(),
                    rx.heading("Sign in", size="6"),
                    rx.text("Use your finapp admin account.", color=rx.color("gray", 11), size="2"),
                    error_callout(AuthState.login_error, width="100%", id="login-error"),
                    rx.vstack(
                        rx.text(
                            "Username", as_="label", html_for="username", size="2", weight="medium"
                        ),
                        rx.input(
                            id="username",
                            name="username",
                            auto_complete="username",
                            required=True,
                            auto_focus=True,
                            size="3",
                            width="100%",
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.vstack(
                        rx.text(
                            "Password", as_="label", html_for="password", size="2", weight="medium"
                        ),
                        rx.input(
                            id="password",
                            name="password",
                            type="password",
                            auto_complete="current-password",
                            required=True,
                            size="3",
                            width="100%",
                        ),
                        spacing="1",
                        width="100%",
                    ),
                    rx.button(
                        "Sign in",
                        type="submit",
                        size="3",
                        width="100%",
                        loading=AuthState.signing_in,
                        id="login-submit",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=AuthState.login,
                reset_on_submit=False,
            ),
            size="4",
            width="100%",
            max_width="24rem",
        ),
        rx.box(
            rx.color_mode.button(size="2", variant="ghost"),
            position="fixed",
            top="1rem",
            right="1rem",
        ),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )
