"""API tokens on the Settings page: list, create (shown once), revoke."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import reflex as rx

from finapp.db import session_scope
from finapp.models import ApiToken
from finapp.services import api_tokens
from finapp.services.errors import FinappError
from finapp.state.auth import AuthState

EXPIRY_CHOICES = {"30 days": 30, "90 days": 90, "1 year": 365, "Never": None}


def _iso(value: object) -> str:
    return value.isoformat() if value is not None else ""  # type: ignore[attr-defined]


def _row(record: ApiToken) -> dict[str, str]:
    return {
        "id": str(record.id),
        "name": record.name,
        "prefix": record.prefix,
        "status": api_tokens.token_status(record),
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "last_used_at": _iso(record.last_used_at),
    }


class ApiTokensState(AuthState):
    tokens: list[dict[str, str]] = []
    loading: bool = True
    token_error: str = ""
    new_token_expiry: str = "90 days"
    created_token: str = ""  # the plaintext, shown once in a dialog and then forgotten
    creating: bool = False

    @rx.event
    def load_tokens(self) -> rx.event.EventSpec | None:
        user_id = self._signed_in_user_id()
        if user_id is None:
            return self._login_redirect()
        self._refresh(user_id)
        return None

    def _refresh(self, user_id: int) -> None:
        with session_scope() as session:
            self.tokens = [
                _row(t) for t in api_tokens.list_tokens(session=session, user_id=user_id)
            ]
        self.loading = False

    @rx.event
    def set_new_token_expiry(self, value: str) -> None:
        if value in EXPIRY_CHOICES:
            self.new_token_expiry = value

    @rx.event
    def create_token(self, form_data: dict[str, str]) -> Iterator[Any]:
        self.token_error = ""
        user_id = self._signed_in_user_id()
        if user_id is None:
            yield self._login_redirect()
            return
        self.creating = True
        yield
        try:
            with session_scope() as session:
                issued = api_tokens.create_token(
                    session=session,
                    user_id=user_id,
                    name=str(form_data.get("token_name", "")),
                    expires_in_days=EXPIRY_CHOICES.get(self.new_token_expiry, 90),
                )
                self.created_token = issued.token
        except FinappError as exc:
            self.token_error = str(exc)
        else:
            yield rx.set_value("token_name", "")
        finally:
            self.creating = False
        self._refresh(user_id)

    @rx.event
    def dismiss_created_token(self) -> None:
        self.created_token = ""

    @rx.event
    def revoke_token(self, token_id: str) -> rx.event.EventSpec | None:
        user_id = self._signed_in_user_id()
        if user_id is None:
            return self._login_redirect()
        try:
            with session_scope() as session:
                record = api_tokens.revoke_token(
                    session=session, user_id=user_id, token_id=int(token_id)
                )
                name = record.name
        except (FinappError, ValueError) as exc:
            self.token_error = str(exc)
            return None
        self._refresh(user_id)
        return rx.toast.success(f"Token “{name}” revoked; it stops working immediately.")
