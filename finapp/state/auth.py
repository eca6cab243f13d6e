"""Who is signed in. Every protected page loads through `AuthState.require_login`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import reflex as rx

from finapp.db import session_scope
from finapp.services import auth
from finapp.services.errors import InvalidCredentials, LoginThrottled
from finapp.settings import get_settings

LOGIN_ROUTE = "/login"


class AuthState(rx.State):
    # The browser keeps only the opaque token; the session lives in the database, so logout and
    # expiry take effect server-side whatever the browser still holds.
    session_token: str = rx.Cookie(
        "",
        name=auth.SESSION_COOKIE,
        path="/",
        max_age=get_settings().session_hours * 3600,
        same_site="strict",
    )
    username: str = ""
    current_path: str = "/"
    login_error: str = ""
    signing_in: bool = False

    @rx.var
    def is_authenticated(self) -> bool:
        return self.username != ""

    @rx.var
    def user_initial(self) -> str:
        return self.username[:1].upper()

    def _client(self) -> str:
        return self.router.session.client_ip or "unknown"

    def _signed_in_user_id(self) -> int | None:
        """Re-check the session on the server; handlers that change data call this first."""
        with session_scope() as session:
            user = auth.user_for_session(session=session, token=self.session_token)
            return user.id if user else None

    def _login_redirect(self) -> rx.event.EventSpec:
        self.username = ""
        target = self.router.url.path.rstrip("/") or "/"
        suffix = f"?next={quote(target)}" if target not in ("/", LOGIN_ROUTE) else ""
        return rx.redirect(LOGIN_ROUTE + suffix)

    @rx.event
    def require_login(self) -> rx.event.EventSpec | None:
        """on_load of every protected page: unknown, ended or expired sessions go to login."""
        with session_scope() as session:
            user = auth.user_for_session(session=session, token=self.session_token)
            name = user.username if user else ""
        if not name:
            return self._login_redirect()
        self.username = name
        self.current_path = self.router.url.path.rstrip("/") or "/"
        return None

    @rx.event
    def redirect_if_signed_in(self) -> rx.event.EventSpec | None:
        self.login_error = ""
        self.signing_in = False
        with session_scope() as session:
            user = auth.user_for_session(session=session, token=self.session_token)
        if user is not None:
            return rx.redirect("/")
        return None

    @rx.event
    def login(self, form_data: dict[str, str]) -> Iterator[Any]:
        self.signing_in = True
        self.login_error = ""
        yield
        username = str(form_data.get("username", ""))[:256]
        password = str(form_data.get("password", ""))[:4096]
        try:
            with session_scope() as session:
                user = auth.authenticate(
                    session=session, username=username, password=password, client=self._client()
                )
                token = auth.start_session(session=session, user=user, client=self._client())
                name = user.username
        except (InvalidCredentials, LoginThrottled) as exc:
            self.login_error = str(exc)
            self.signing_in = False
            return
        self.session_token = token
        self.username = name
        self.signing_in = False
        target = self.router.url.query_parameters.get("next", "/")
        # Only local paths: an open redirect after login is a phishing tool.
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        yield rx.redirect(target)

    @rx.event
    def logout(self) -> rx.event.EventSpec:
        with session_scope() as session:
            auth.end_session(session=session, token=self.session_token)
        self.session_token = ""
        self.username = ""
        return rx.redirect(LOGIN_ROUTE)
