"""Domain errors as HTTP answers: one mapping for the FastAPI routes and the webhook fast path
(`finapp.api.fastpath`), so both answer a refusal with the same status, body and headers."""

from __future__ import annotations

from fastapi.responses import JSONResponse

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


def error_response(exc: Exception) -> JSONResponse:
    """`{"detail": message}` with the error's status; Retry-After on throttling."""
    status = next((code for kind, code in _STATUS_FOR_ERROR if isinstance(exc, kind)), 400)
    headers = {}
    if isinstance(exc, LoginThrottled | RateLimited):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    elif status == 401 and not isinstance(exc, Unauthorized):
        # Unauthorized is a provider request without its signature: no bearer scheme applies.
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
