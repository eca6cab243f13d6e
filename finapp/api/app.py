"""The FastAPI application that Reflex mounts itself under (`rx.App(api_transformer=…)`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from finapp import __version__
from finapp.api import auth, batch, email, files, health, projects, tokens, webhooks
from finapp.api.limits import BodySizeLimit
from finapp.services.cron import InvalidCron
from finapp.services.errors import (
    Conflict,
    FinappError,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    LoginThrottled,
    MailServerError,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
)

_STATUS_FOR_ERROR: list[tuple[type[FinappError], int]] = [
    (LoginThrottled, 429),
    (RateLimited, 429),
    (InvalidCredentials, 401),
    (InvalidToken, 401),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (MailServerError, 502),
    (InvalidCron, 422),
    (TooLarge, 413),
    (InvalidInput, 400),
]


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS_FOR_ERROR if isinstance(exc, kind)), 400)
    headers = {}
    if isinstance(exc, LoginThrottled | RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    elif status == 401 and not isinstance(exc, Unauthorized):
        # Unauthorized is a provider request without its signature: no bearer scheme applies.
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def create_api() -> FastAPI:
    api = FastAPI(
        title="finapp API",
        version=__version__,
        description="Manage finapp: batch jobs, mail ingestion, webhooks, files. "
        "Get a bearer token with POST /api/auth/token.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    api.add_exception_handler(FinappError, _domain_error)
    api.add_middleware(BodySizeLimit)
    # Routes are matched in order, one by one: the webhook receivers come first because
    # providers can send bursts, and matching past every other route costs more than receiving.
    for module in (webhooks, auth, tokens, files, projects, batch, email, health):
        api.include_router(module.router)
    return api
