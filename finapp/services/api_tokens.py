"""Bearer tokens for the REST API: named personal tokens and short-lived access tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from finapp.db import utcnow
from finapp.models import ApiToken, User
from finapp.services.errors import InvalidInput, InvalidToken, NotFound
from finapp.services.secrets import hash_token, new_token
from finapp.settings import get_settings

TOKEN_PREFIX = "fa"
MAX_NAME_LENGTH = 100
MAX_EXPIRY_DAYS = 3650
# Writing last_used_at on every request would turn each API read into a write; a minute's
# resolution is what the tokens page shows anyway.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: str  # the plaintext, returned once and never stored
    record: ApiToken


def create_token(
    *, session: Session, user_id: int, name: str, expires_in_days: int | None
) -> IssuedToken:
    """Make a named personal token; `expires_in_days=None` means it never expires."""
    name = name.strip()
    if not name:
        raise InvalidInput("Give the token a name, so you can tell it apart later.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The name must be at most {MAX_NAME_LENGTH} characters.")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days, or never.")
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days else None
    return _issue(
        session=session, user_id=user_id, name=name, kind="personal", expires_at=expires_at
    )


def issue_access_token(*, session: Session, user: User) -> tuple[IssuedToken, int]:
    """A short-lived token for `POST /api/auth/token`; returns it and its lifetime in seconds."""
    lifetime = get_settings().access_token_minutes * 60
    issued = _issue(
        session=session,
        user_id=user.id,
        name="access token",
        kind="access",
        expires_at=utcnow() + timedelta(seconds=lifetime),
    )
    return issued, lifetime


def _issue(
    *, session: Session, user_id: int, name: str, kind: str, expires_at: datetime | None
) -> IssuedToken:
    token = new_token(TOKEN_PREFIX)
    record = ApiToken(
        name=name,
        kind=kind,
        token_hash=hash_token(token),
        prefix=token[:10],
        user_id=user_id,
        expires_at=expires_at,
    )
    session.add(record)
    session.flush()
    return IssuedToken(token=token, record=record)


def authenticate_token(*, session: Session, token: str) -> User:
    """The user behind a bearer token; raises InvalidToken for unknown, revoked or expired ones."""
    if not token.startswith(TOKEN_PREFIX + "_") or len(token) > 200:
        raise InvalidToken("Malformed token.")
    record = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).first()
    if record is None:
        raise InvalidToken("Unknown token.")
    now = utcnow()
    if record.revoked_at is not None:
        raise InvalidToken("This token has been revoked.")
    if record.expires_at is not None and record.expires_at <= now:
        raise InvalidToken("This token has expired.")
    user = session.get(User, record.user_id)
    if user is None or not user.is_active:
        raise InvalidToken("The token's user is disabled.")
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_RESOLUTION:
        record.last_used_at = now
        session.add(record)
    return user


def list_tokens(*, session: Session, user_id: int) -> list[ApiToken]:
    """The user's personal tokens, newest first (access tokens are transient and not listed)."""
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.kind == "personal")
            .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
        ).all()
    )


def revoke_token(*, session: Session, user_id: int, token_id: int) -> ApiToken:
    record = session.get(ApiToken, token_id)
    if record is None or record.user_id != user_id:
        raise NotFound(f"No token {token_id}.")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        session.add(record)
    return record


def token_status(record: ApiToken, now: datetime | None = None) -> str:
    now = now or utcnow()
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"
