"""`POST /api/auth/token` and `GET /api/auth/me`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from finapp.api.deps import CurrentUser, DbSession, client_address
from finapp.services import auth
from finapp.services.api_tokens import issue_access_token

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    username: str


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={401: {"description": "Wrong credentials"}, 429: {"description": "Throttled"}},
)
def create_access_token(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=4096)],
) -> TokenResponse:
    """Exchange a username and password for a short-lived bearer token."""
    user = auth.authenticate(
        session=session, username=username, password=password, client=client_address(request)
    )
    issued, lifetime = issue_access_token(session=session, user=user)
    return TokenResponse(access_token=issued.token, expires_in=lifetime)


@router.get("/me", response_model=Me)
def who_am_i(user: CurrentUser) -> Me:
    return Me(username=user.username)
