"""Sign-in throttling: a sliding window of failures per username and per client.

A username is locked after `USER_FAILURE_LIMIT` failures (since its last success) inside the
window; a client (IP address) after `CLIENT_FAILURE_LIMIT`, whichever username it tries. The lock
lifts when enough failures age out of the window, and the caller is told exactly when.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from finapp.db import utcnow
from finapp.models import LoginAttempt

WINDOW = timedelta(minutes=15)
USER_FAILURE_LIMIT = 5
CLIENT_FAILURE_LIMIT = 20


USERNAME_COLUMN_LENGTH = 64


def normalize_username(username: str) -> str:
    return username.strip().lower()


def _throttle_key(username: str) -> str:
    # Only the bookkeeping key is cut to the column size; sign-in compares the whole name.
    return normalize_username(username)[:USERNAME_COLUMN_LENGTH]


def retry_after_seconds(
    *, session: Session, username: str, client: str, now: datetime | None = None
) -> int:
    """Seconds until this username/client may try again; 0 when not throttled."""
    now = now or utcnow()
    name = _throttle_key(username)
    window_start = now - WINDOW

    last_success = session.exec(
        select(func.max(LoginAttempt.attempted_at)).where(
            LoginAttempt.username == name, col(LoginAttempt.succeeded).is_(True)
        )
    ).one()
    user_since = max(window_start, last_success) if last_success else window_start

    waits = [
        _wait_for(session, LoginAttempt.username == name, user_since, USER_FAILURE_LIMIT, now),
        _wait_for(session, LoginAttempt.client == client, window_start, CLIENT_FAILURE_LIMIT, now),
    ]
    return max(waits)


def _wait_for(
    session: Session, who: ColumnElement[bool], since: datetime, limit: int, now: datetime
) -> int:
    failures = session.exec(
        select(LoginAttempt.attempted_at)
        .where(who, col(LoginAttempt.succeeded).is_(False), LoginAttempt.attempted_at > since)
        .order_by(col(LoginAttempt.attempted_at).desc())
        .limit(limit)
    ).all()
    if len(failures) < limit:
        return 0
    # The oldest of the newest `limit` failures must leave the window before one more try.
    unlock_at = failures[-1] + WINDOW
    return max(1, int((unlock_at - now).total_seconds() + 0.999))


def record_attempt(
    *, session: Session, username: str, client: str, succeeded: bool, now: datetime | None = None
) -> None:
    session.add(
        LoginAttempt(
            username=_throttle_key(username),
            client=client[:128],
            succeeded=succeeded,
            attempted_at=now or utcnow(),
        )
    )
    session.flush()


def prune_attempts(*, session: Session, now: datetime | None = None) -> int:
    """Delete attempts too old to matter; returns how many."""
    cutoff = (now or utcnow()) - WINDOW * 4
    old = session.exec(select(LoginAttempt).where(LoginAttempt.attempted_at < cutoff)).all()
    for row in old:
        session.delete(row)
    return len(old)
