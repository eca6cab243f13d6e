"""Sign-in, browser sessions and password changes."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from finapp.db import utcnow
from finapp.models import LoginSession, User
from finapp.services import passwords, throttle
from finapp.services.errors import InvalidCredentials, InvalidInput, LoginThrottled, NotFound
from finapp.services.secrets import hash_token, new_token
from finapp.settings import get_settings

SESSION_TOKEN_PREFIX = "fs"
SESSION_COOKIE = "finapp_session"  # where the browser keeps its session token


def find_user(*, session: Session, username: str) -> User | None:
    return session.exec(
        select(User).where(User.username == throttle.normalize_username(username))
    ).first()


def authenticate(*, session: Session, username: str, password: str, client: str) -> User:
    """Check a username and password, with throttling.

    Raises LoginThrottled (with the wait) or InvalidCredentials. Unknown usernames and inactive
    accounts cost one argon2 verification, like a wrong password.
    """
    wait = throttle.retry_after_seconds(session=session, username=username, client=client)
    if wait:
        raise LoginThrottled(wait)
    user = find_user(session=session, username=username) if username.strip() else None
    known = user is not None and user.is_active
    ok = passwords.verify_password(password, user.password_hash if known else None)
    throttle.record_attempt(session=session, username=username, client=client, succeeded=ok)
    if not ok or user is None:
        # The raise makes the caller's unit of work roll back; the failure must survive it or
        # throttling would never see it.
        session.commit()
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = utcnow()
    session.add(user)
    return user


def start_session(*, session: Session, user: User, client: str) -> str:
    """Open a browser session; returns the token the browser keeps (shown nowhere else)."""
    token = new_token(SESSION_TOKEN_PREFIX)
    now = utcnow()
    session.add(
        LoginSession(
            token_hash=hash_token(token),
            user_id=user.id,
            client=client[:128],
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=get_settings().session_hours),
        )
    )
    session.flush()
    return token


def user_for_session(*, session: Session, token: str) -> User | None:
    """The signed-in user for a browser token, or None if unknown, ended, expired or inactive."""
    if not token or not token.startswith(SESSION_TOKEN_PREFIX + "_"):
        return None
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    ).first()
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    row.last_seen_at = now
    session.add(row)
    return user


def end_session(*, session: Session, token: str) -> None:
    """Log out: the token stops working at once, everywhere."""
    if not token:
        return
    row = session.exec(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    ).first()
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.add(row)


def change_password(
    *, session: Session, user_id: int, current_password: str, new_password: str, keep_token: str
) -> None:
    """Change a password after re-checking the current one; ends the user's other sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("User not found.")
    if not passwords.verify_password(current_password, user.password_hash):
        raise InvalidInput("The current password is wrong.")
    if new_password == current_password:
        raise InvalidInput("The new password must differ from the current one.")
    passwords.check_password_strength(new_password, username=user.username)
    set_password(session=session, user=user, password=new_password)
    keep_hash = hash_token(keep_token) if keep_token else ""
    others = session.exec(
        select(LoginSession).where(
            LoginSession.user_id == user.id,
            col(LoginSession.ended_at).is_(None),
            LoginSession.token_hash != keep_hash,
        )
    ).all()
    now = utcnow()
    for row in others:
        row.ended_at = now
        session.add(row)


def set_password(*, session: Session, user: User, password: str) -> None:
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = utcnow()
    session.add(user)
