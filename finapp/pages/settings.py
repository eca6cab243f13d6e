"""Settings: change password, and API tokens (create, shown once, list with last use, revoke)."""

from __future__ import annotations

import reflex as rx

from finapp.components.controls import confirm
from finapp.components.layout import card, empty_state, error_callout, page_shell, success_callout
from finapp.state.account import AccountState
from finapp.state.api_tokens import EXPIRY_CHOICES, ApiTokensState


def _field(label: str, name: str, **props: object) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.input(id=name, name=name, width="100%", **props),
        spacing="1",
        width="100%",
    )


def _password_card() -> rx.Component:
    return card(
        "Change password",
        "key-round",
        rx.form(
            rx.vstack(
                error_callout(AccountState.password_error, width="100%"),
                success_callout(AccountState.password_message),
                _field(
                    "Current password",
                    "current_password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                ),
                _field(
                    "New password (at least 12 characters)",
                    "new_password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                _field(
                    "Repeat new password",
                    "confirm_password",
                    type="password",
                    auto_complete="new-password",
                    required=True,
                ),
                rx.button("Change password", type="submit", loading=AccountState.saving_password),
                spacing="3",
                width="100%",
                max_width="28rem",
            ),
            on_submit=AccountState.change_password,
            reset_on_submit=False,
        ),
    )


def _when(value: rx.Var[str], empty: str) -> rx.Component:
    return rx.cond(
        value != "",
        rx.moment(value, format="YYYY-MM-DD HH:mm", local=True),
        rx.text(empty, color=rx.color("gray", 10)),
    )


def _status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, ("active", "green"), ("expired", "amber"), "gray"),
    )


def _revoke_button(row: rx.Var[dict[str, str]]) -> rx.Component:
    return confirm(
        rx.button("Revoke", color_scheme="red", variant="soft", size="1"),
        title="Revoke this token?",
        description=[
            "Scripts using “",
            row["name"],
            "” will get 401 Unauthorized from now on. This cannot be undone.",
        ],
        confirm_label="Revoke token",
        on_confirm=ApiTokensState.revoke_token(row["id"]),
    )


def _token_row(row: rx.Var[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["name"], weight="medium")),
        rx.table.cell(rx.code(row["prefix"], "…")),
        rx.table.cell(_status_badge(row["status"])),
        rx.table.cell(_when(row["created_at"], "—")),
        rx.table.cell(_when(row["last_used_at"], "Never")),
        rx.table.cell(_when(row["expires_at"], "Never")),
        rx.table.cell(rx.cond(row["status"] == "active", _revoke_button(row))),
        align="center",
    )


def _tokens_table() -> rx.Component:
    return rx.cond(
        ApiTokensState.loading,
        rx.center(rx.spinner(), padding="2rem", width="100%"),
        rx.cond(
            ApiTokensState.tokens.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Name",
                                "Token",
                                "Status",
                                "Created",
                                "Last used",
                                "Expires",
                                "",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(ApiTokensState.tokens, _token_row)),
                width="100%",
                variant="surface",
                id="tokens-table",
            ),
            empty_state(
                "key", "No API tokens", "Create a token to call the REST API from scripts."
            ),
        ),
    )


def _created_token_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Copy your new token"),
            rx.dialog.description(
                "This is the only time it is shown. Store it in your secret manager now.",
                size="2",
            ),
            rx.hstack(
                rx.code(ApiTokensState.created_token, id="created-token", word_break="break-all"),
                rx.icon_button(
                    rx.icon("copy", size=16),
                    on_click=[
                        rx.set_clipboard(ApiTokensState.created_token),
                        rx.toast.info("Copied to the clipboard"),
                    ],
                    variant="soft",
                    aria_label="Copy token",
                ),
                align="center",
                margin_y="1rem",
            ),
            rx.flex(
                rx.button("Done", on_click=ApiTokensState.dismiss_created_token),
                justify="end",
            ),
        ),
        open=ApiTokensState.created_token != "",
    )


def _tokens_card() -> rx.Component:
    return card(
        "API tokens",
        "key",
        rx.text(
            "Bearer tokens for the REST API (see /docs). Only a hash is stored.",
            size="2",
            color=rx.color("gray", 11),
        ),
        error_callout(ApiTokensState.token_error, width="100%"),
        rx.form(
            rx.hstack(
                rx.input(
                    id="token_name",
                    name="token_name",
                    placeholder="Token name, e.g. nightly-export",
                    required=True,
                    max_length=100,
                    width="20rem",
                ),
                rx.select(
                    list(EXPIRY_CHOICES),
                    value=ApiTokensState.new_token_expiry,
                    on_change=ApiTokensState.set_new_token_expiry,
                ),
                rx.button(
                    rx.icon("plus", size=16),
                    "Create token",
                    type="submit",
                    loading=ApiTokensState.creating,
                ),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            on_submit=ApiTokensState.create_token,
            reset_on_submit=False,
        ),
        _tokens_table(),
        _created_token_dialog(),
    )


def settings_page() -> rx.Component:
    return page_shell("Settings", _password_card(), _tokens_card())
