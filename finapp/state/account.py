"""Change-password form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import reflex as rx

from finapp.db import session_scope
from finapp.services import auth
from finapp.services.errors import FinappError
from finapp.state.auth import AuthState


class AccountState(AuthState):
    password_error: str = ""
    password_message: str = ""
    saving_password: bool = False

    @rx.event
    def change_password(self, form_data: dict[str, str]) -> Iterator[Any]:
        self.password_error = ""
        self.password_message = ""
        new = str(form_data.get("new_password", ""))
        if new != str(form_data.get("confirm_password", "")):
            self.password_error = "The new passwords do not match."
            return
        user_id = self._signed_in_user_id()
        if user_id is None:
            yield self._login_redirect()
            return
        self.saving_password = True
        yield
        try:
            with session_scope() as session:
                auth.change_password(
                    session=session,
                    user_id=user_id,
                    current_password=str(form_data.get("current_password", "")),
                    new_password=new,
                    keep_token=self.session_token,
                )
        except FinappError as exc:
            self.password_error = str(exc)
        else:
            self.password_message = "Password changed. Your other sessions were signed out."
            yield rx.set_value("current_password", "")
            yield rx.set_value("new_password", "")
            yield rx.set_value("confirm_password", "")
        finally:
            self.saving_password = False
