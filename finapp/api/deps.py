"""Shared dependencies: a unit-of-work session and the bearer-token guard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from finapp.db import session_scope
from finapp.models import User
from finapp.services.api_tokens import authenticate_token
from finapp.services.auth import SESSION_COOKIE, user_for_session
from finapp.services.errors import InvalidToken

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/token or the UI")


def db_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


DbSession = Annotated[Session, Depends(db_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def current_user(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """Every management route depends on this: 401 unless a live bearer token is presented."""
    if credentials is None:
        raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.")
    try:
        return authenticate_token(session=session, token=credentials.credentials)
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None


CurrentUser = Annotated[User, Depends(current_user)]


def user_or_browser_session(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """For downloads linked from the UI: a bearer token, or the signed-in browser's session
    cookie (SameSite=strict, so another site cannot make the browser send it)."""
    if credentials is not None:
        return current_user(session, credentials)
    user = user_for_session(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    if user is None:
        raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'.")
    return user


DownloadUser = Annotated[User, Depends(user_or_browser_session)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
