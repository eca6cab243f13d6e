"""Every table. Datetimes are timezone-aware UTC (see `finapp.db.utcnow`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from finapp.db import utcnow


class User(SQLModel, table=True):
    """An admin account for the UI and the API."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class LoginSession(SQLModel, table=True):
    """A browser sign-in. The browser holds the token; only its keyed hash is stored."""

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    client: str = Field(default="", max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None


class ApiToken(SQLModel, table=True):
    """A bearer token for the REST API: named personal tokens made in the UI, and short-lived
    access tokens from `POST /api/auth/token`. Only a keyed hash is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: str = Field(default="personal", max_length=16)  # personal | access
    token_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)  # first characters, so a user can tell tokens apart
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt (UI or API), kept to throttle guessing per user and per client."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, index=True)
    client: str = Field(max_length=128, index=True)
    succeeded: bool = Field(default=False)
    attempted_at: datetime = Field(default_factory=utcnow, index=True)
