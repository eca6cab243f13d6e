"""Domain errors. Callers map them to HTTP statuses (finapp.api) or UI messages (finapp.state)."""

from __future__ import annotations


class FinappError(Exception):
    """Base of every error a service raises on purpose."""


class InvalidCredentials(FinappError):
    def __init__(self) -> None:
        super().__init__("Wrong username or password.")


class LoginThrottled(FinappError):
    def __init__(self, retry_after_seconds: int) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"Too many failed sign-in attempts. Try again in {describe_wait(retry_after_seconds)}."
        )


class InvalidToken(FinappError):
    def __init__(self, reason: str = "Invalid or expired token.") -> None:
        super().__init__(reason)


class NotFound(FinappError):
    pass


class InvalidInput(FinappError):
    """The caller sent something we refuse; the message says what and why."""


class Conflict(FinappError):
    """The request clashes with existing state (HTTP 409), e.g. a job id already taken."""


class MailServerError(FinappError):
    """The mail server could not be reached or refused us (HTTP 502); the message says why."""


class TooLarge(InvalidInput):
    """A body or file over the configured limit (HTTP 413)."""


class Unauthorized(FinappError):
    """The request carries no credential we could check (HTTP 401), e.g. an unsigned webhook."""


class Forbidden(FinappError):
    """A credential was checked and refused, or the feature has none configured (HTTP 403)."""


class RateLimited(FinappError):
    """Too many refused requests from one client (HTTP 429 with Retry-After)."""

    def __init__(self, retry_after_seconds: int, what: str = "requests") -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"Too many rejected {what}. Try again in {describe_wait(retry_after_seconds)}."
        )


def describe_wait(seconds: int) -> str:
    seconds = max(1, int(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = (seconds + 59) // 60
    return f"{minutes} minutes"
