"""Sign-in (with throttling), browser sessions and password changes."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from finapp import db
from finapp.db import utcnow
from finapp.models import LoginAttempt, LoginSession, User
from finapp.services import auth
from finapp.services.errors import InvalidCredentials, InvalidInput, LoginThrottled
from finapp.services.passwords import verify_password
from finapp.services.secrets import hash_token
from finapp.services.throttle import (
    CLIENT_FAILURE_LIMIT,
    USER_FAILURE_LIMIT,
    WINDOW,
    record_attempt,
)
from tests.services.conftest import PASSWORD, MakeUser

NEW_PASSWORD = "a different sturdy passphrase"


def attempts(session: Session, **where: object) -> list[LoginAttempt]:
    query = select(LoginAttempt).order_by(col(LoginAttempt.id))
    for name, value in where.items():
        query = query.where(getattr(LoginAttempt, name) == value)
    return list(session.exec(query).all())


def count_attempts(session: Session) -> int:
    return session.exec(select(func.count()).select_from(LoginAttempt)).one()


def fail_login(session: Session, username: str = "alice", client: str = "1.2.3.4") -> None:
    with pytest.raises(InvalidCredentials):
        auth.authenticate(session=session, username=username, password="wrong!" * 3, client=client)


# --- authenticate --------------------------------------------------------------------------


def test_right_password_returns_the_user_and_records_a_success(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    assert user.last_login_at is None
    result = auth.authenticate(session=session, username="alice", password=PASSWORD, client="c1")
    assert result.id == user.id
    assert result.last_login_at is not None
    [attempt] = attempts(session)
    assert (attempt.username, attempt.client, attempt.succeeded) == ("alice", "c1", True)


def test_username_is_case_and_space_insensitive(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    found = auth.authenticate(session=session, username=" ALICE ", password=PASSWORD, client="c")
    assert found.id == user.id


def test_wrong_password_raises_and_records_a_failure(session: Session, make_user: MakeUser) -> None:
    make_user()
    fail_login(session, client="c2")
    [attempt] = attempts(session)
    assert (attempt.username, attempt.client, attempt.succeeded) == ("alice", "c2", False)


def test_unknown_username_raises_the_same_error_and_records_a_failure(session: Session) -> None:
    with pytest.raises(InvalidCredentials) as excinfo:
        auth.authenticate(session=session, username="nobody", password=PASSWORD, client="c")
    assert str(excinfo.value) == "Wrong username or password."
    assert [a.succeeded for a in attempts(session, username="nobody")] == [False]


def test_inactive_user_cannot_sign_in_even_with_the_right_password(
    session: Session, make_user: MakeUser
) -> None:
    make_user(is_active=False)
    with pytest.raises(InvalidCredentials):
        auth.authenticate(session=session, username="alice", password=PASSWORD, client="c")
    assert [a.succeeded for a in attempts(session)] == [False]


def test_blank_username_is_refused(session: Session) -> None:
    with pytest.raises(InvalidCredentials):
        auth.authenticate(session=session, username="   ", password=PASSWORD, client="c")


def test_after_five_failures_the_user_is_throttled_even_with_the_right_password(
    session: Session, make_user: MakeUser
) -> None:
    make_user()
    for _ in range(USER_FAILURE_LIMIT):
        fail_login(session)

    with pytest.raises(LoginThrottled) as excinfo:
        auth.authenticate(session=session, username="alice", password=PASSWORD, client="1.2.3.4")
    wait = excinfo.value.retry_after_seconds
    assert 0 < wait <= WINDOW.total_seconds()
    # "Try again in 15 minutes." — the message tells the user how long to wait.
    match = re.search(r"Try again in (\d+) (minutes|seconds?)\.", str(excinfo.value))
    assert match is not None, str(excinfo.value)
    amount = int(match.group(1)) * (60 if match.group(2) == "minutes" else 1)
    assert wait <= amount < wait + 60


def test_throttle_applies_to_the_username_from_any_client(
    session: Session, make_user: MakeUser
) -> None:
    make_user()
    for i in range(USER_FAILURE_LIMIT):
        fail_login(session, client=f"10.0.0.{i}")
    with pytest.raises(LoginThrottled):
        auth.authenticate(session=session, username="alice", password=PASSWORD, client="10.1.1.1")


def test_throttled_attempts_are_not_recorded_and_do_not_extend_the_lock(
    session: Session, make_user: MakeUser
) -> None:
    make_user()
    start = utcnow() - timedelta(minutes=10)
    for i in range(USER_FAILURE_LIMIT):
        record_attempt(
            session=session,
            username="alice",
            client="c",
            succeeded=False,
            now=start + timedelta(seconds=i),
        )
    before = count_attempts(session)

    waits = []
    for _ in range(3):
        with pytest.raises(LoginThrottled) as excinfo:
            auth.authenticate(session=session, username="alice", password="guess" * 4, client="c")
        waits.append(excinfo.value.retry_after_seconds)

    assert count_attempts(session) == before
    # The lock ends when the first failure (10 minutes ago) leaves the 15-minute window: ~5 min.
    assert all(0 < w <= 5 * 60 + 1 for w in waits), waits
    assert waits == sorted(waits, reverse=True)


def test_a_success_resets_the_per_user_failure_count(session: Session, make_user: MakeUser) -> None:
    make_user()
    for _ in range(USER_FAILURE_LIMIT - 1):
        fail_login(session)
    auth.authenticate(session=session, username="alice", password=PASSWORD, client="1.2.3.4")
    for _ in range(USER_FAILURE_LIMIT - 1):
        fail_login(session)
    # 8 failures in the window, but only 4 since the success: still allowed.
    auth.authenticate(session=session, username="alice", password=PASSWORD, client="1.2.3.4")


def test_client_limit_throttles_that_client_but_not_another(
    session: Session, make_user: MakeUser
) -> None:
    make_user()
    now = utcnow()
    for i in range(CLIENT_FAILURE_LIMIT):
        record_attempt(
            session=session,
            username=f"guess{i}",
            client="203.0.113.9",
            succeeded=False,
            now=now - timedelta(seconds=60 - i),
        )
    with pytest.raises(LoginThrottled) as excinfo:
        auth.authenticate(
            session=session, username="alice", password=PASSWORD, client="203.0.113.9"
        )
    assert 0 < excinfo.value.retry_after_seconds <= WINDOW.total_seconds()

    user = auth.authenticate(
        session=session, username="alice", password=PASSWORD, client="198.51.100.2"
    )
    assert user.username == "alice"


def test_unknown_username_costs_about_as_much_as_a_wrong_password(
    session: Session, make_user: MakeUser
) -> None:
    make_user()

    def timed(username: str, client: str) -> float:
        started = time.perf_counter()
        with pytest.raises(InvalidCredentials):
            auth.authenticate(
                session=session, username=username, password="nope" * 4, client=client
            )
        return time.perf_counter() - started

    timed("warm-up-unknown", "warm")  # first query/verify pays one-off costs
    wrong, unknown = [], []
    for i in range(USER_FAILURE_LIMIT):  # the 5th failure is the last one allowed for "alice"
        wrong.append(timed("alice", f"w{i}"))
        unknown.append(timed(f"ghost{i}", f"u{i}"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 < ratio < 2.0, (wrong, unknown)


def test_failed_attempt_is_kept_when_the_error_leaves_session_scope(
    database: object, make_user: MakeUser, session: Session
) -> None:
    """Callers let InvalidCredentials roll back their unit of work; the failure must survive,
    or throttling would never see it (it once did not)."""
    make_user()
    session.commit()
    with pytest.raises(InvalidCredentials), db.session_scope() as other:
        auth.authenticate(session=other, username="alice", password="wrong" * 4, client="c")
    with db.session_scope() as check:
        assert check.exec(select(func.count()).select_from(LoginAttempt)).one() == 1


# --- browser sessions ----------------------------------------------------------------------


def session_row(session: Session, token: str) -> LoginSession:
    return session.exec(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    ).one()


def test_started_session_resolves_to_its_user(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    token = auth.start_session(session=session, user=user, client="browser")
    assert token.startswith("fs_")
    assert auth.user_for_session(session=session, token=token).id == user.id

    row = session_row(session, token)
    assert row.token_hash != token  # only the keyed hash is stored
    assert timedelta(hours=11, minutes=59) < row.expires_at - row.created_at <= timedelta(hours=12)


def test_ended_session_no_longer_resolves(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    token = auth.start_session(session=session, user=user, client="browser")
    auth.end_session(session=session, token=token)
    assert auth.user_for_session(session=session, token=token) is None


def test_expired_session_no_longer_resolves(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    token = auth.start_session(session=session, user=user, client="browser")
    row = session_row(session, token)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()
    assert auth.user_for_session(session=session, token=token) is None


def test_session_of_an_inactive_user_no_longer_resolves(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    token = auth.start_session(session=session, user=user, client="browser")
    user.is_active = False
    session.add(user)
    session.commit()
    assert auth.user_for_session(session=session, token=token) is None


@pytest.mark.parametrize("token", ["", "garbage", "fs_", "fs_not-a-real-token", "fa_" + "x" * 43])
def test_garbage_session_token_resolves_to_nobody(
    session: Session, make_user: MakeUser, token: str
) -> None:
    auth.start_session(session=session, user=make_user(), client="browser")
    assert auth.user_for_session(session=session, token=token) is None


def test_session_survives_a_commit_and_a_new_unit_of_work(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    token = auth.start_session(session=session, user=user, client="browser")
    session.commit()
    with db.session_scope() as other:
        found = auth.user_for_session(session=other, token=token)
        assert found is not None and found.username == "alice"


# --- change_password -----------------------------------------------------------------------


def test_change_password_with_wrong_current_password_is_refused(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    with pytest.raises(InvalidInput, match="current password"):
        auth.change_password(
            session=session,
            user_id=user.id,
            current_password="not it at all!",
            new_password=NEW_PASSWORD,
            keep_token="",
        )
    assert verify_password(PASSWORD, session.get(User, user.id).password_hash)


@pytest.mark.parametrize("weak", ["short", "alice-is-my-name-123", "zzzzzzzzzzzzzzzz", PASSWORD])
def test_change_password_to_a_weak_or_same_password_is_refused(
    session: Session, make_user: MakeUser, weak: str
) -> None:
    user = make_user()
    with pytest.raises(InvalidInput):
        auth.change_password(
            session=session,
            user_id=user.id,
            current_password=PASSWORD,
            new_password=weak,
            keep_token="",
        )
    assert session.get(User, user.id).password_hash == user.password_hash


def test_change_password_ends_other_sessions_keeps_this_one_and_new_password_works(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    other_user = make_user("bob")
    mine = auth.start_session(session=session, user=user, client="this browser")
    elsewhere = auth.start_session(session=session, user=user, client="phone")
    bobs = auth.start_session(session=session, user=other_user, client="bob's laptop")
    changed_before = user.password_changed_at

    auth.change_password(
        session=session,
        user_id=user.id,
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        keep_token=mine,
    )
    session.commit()

    assert auth.user_for_session(session=session, token=mine).id == user.id
    assert auth.user_for_session(session=session, token=elsewhere) is None
    assert auth.user_for_session(session=session, token=bobs).id == other_user.id
    assert session.get(User, user.id).password_changed_at > changed_before

    assert auth.authenticate(session=session, username="alice", password=NEW_PASSWORD, client="c")
    with pytest.raises(InvalidCredentials):
        auth.authenticate(session=session, username="alice", password=PASSWORD, client="c")


def test_a_longer_username_sharing_the_first_64_characters_does_not_sign_in(
    session: Session, make_user: MakeUser
) -> None:
    make_user(username="a" * 64)
    with pytest.raises(InvalidCredentials):
        auth.authenticate(session=session, username="a" * 65, password=PASSWORD, client="c")
