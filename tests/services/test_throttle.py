"""The sliding-window throttle, driven with explicit `now=` so no test sleeps."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from finapp.db import utcnow
from finapp.models import LoginAttempt
from finapp.services import throttle
from finapp.services.throttle import (
    CLIENT_FAILURE_LIMIT,
    USER_FAILURE_LIMIT,
    WINDOW,
    record_attempt,
    retry_after_seconds,
)


def fail(session: Session, username: str, client: str, at) -> None:
    record_attempt(session=session, username=username, client=client, succeeded=False, now=at)


def test_below_the_user_limit_there_is_no_wait(session: Session) -> None:
    now = utcnow()
    for i in range(USER_FAILURE_LIMIT - 1):
        fail(session, "alice", "10.0.0.1", now - timedelta(seconds=10 - i))
    assert retry_after_seconds(session=session, username="alice", client="10.0.0.1", now=now) == 0


def test_user_limit_locks_until_the_oldest_counted_failure_leaves_the_window(
    session: Session,
) -> None:
    start = utcnow() - timedelta(minutes=5)
    for i in range(USER_FAILURE_LIMIT):
        fail(session, "alice", f"10.0.0.{i}", start + timedelta(seconds=i))
    now = start + timedelta(seconds=USER_FAILURE_LIMIT)

    wait = retry_after_seconds(session=session, username="alice", client="10.9.9.9", now=now)
    # The first failure was at `start`; it leaves the window at start + 15 min.
    expected = (start + WINDOW - now).total_seconds()
    assert 0 < wait <= WINDOW.total_seconds()
    assert abs(wait - expected) <= 1

    just_before = start + WINDOW - timedelta(seconds=1)
    assert (
        retry_after_seconds(session=session, username="alice", client="10.9.9.9", now=just_before)
        > 0
    )
    after = start + WINDOW + timedelta(milliseconds=1)
    assert retry_after_seconds(session=session, username="alice", client="10.9.9.9", now=after) == 0


def test_username_is_matched_case_and_space_insensitively(session: Session) -> None:
    now = utcnow()
    for i in range(USER_FAILURE_LIMIT):
        fail(session, "  Alice ", "c", now - timedelta(seconds=i + 1))
    assert retry_after_seconds(session=session, username="ALICE", client="other", now=now) > 0


def test_failures_older_than_the_window_do_not_count(session: Session) -> None:
    now = utcnow()
    for i in range(USER_FAILURE_LIMIT):
        fail(session, "alice", "c", now - WINDOW - timedelta(seconds=i + 1))
    assert retry_after_seconds(session=session, username="alice", client="c", now=now) == 0


def test_a_success_resets_the_per_user_count(session: Session) -> None:
    now = utcnow()
    for i in range(USER_FAILURE_LIMIT - 1):
        fail(session, "alice", "c", now - timedelta(seconds=60 - i))
    record_attempt(
        session=session,
        username="alice",
        client="c",
        succeeded=True,
        now=now - timedelta(seconds=30),
    )
    # Four failures before the success plus four after: eight in the window, but only four count.
    for i in range(USER_FAILURE_LIMIT - 1):
        fail(session, "alice", "c", now - timedelta(seconds=20 - i))
    assert retry_after_seconds(session=session, username="alice", client="c", now=now) == 0
    fail(session, "alice", "c", now - timedelta(seconds=1))
    assert retry_after_seconds(session=session, username="alice", client="c", now=now) > 0


def test_client_limit_throttles_that_client_for_any_username_but_not_other_clients(
    session: Session,
) -> None:
    now = utcnow()
    for i in range(CLIENT_FAILURE_LIMIT):
        # A different username each time, so no per-user lock is reached.
        fail(session, f"user{i}", "203.0.113.7", now - timedelta(seconds=100 - i))

    wait = retry_after_seconds(session=session, username="fresh", client="203.0.113.7", now=now)
    assert 0 < wait <= WINDOW.total_seconds()
    assert (
        retry_after_seconds(session=session, username="fresh", client="198.51.100.1", now=now) == 0
    )
    assert (
        retry_after_seconds(session=session, username="user0", client="198.51.100.1", now=now) == 0
    )


def test_client_one_short_of_the_limit_is_not_throttled(session: Session) -> None:
    now = utcnow()
    for i in range(CLIENT_FAILURE_LIMIT - 1):
        fail(session, f"user{i}", "203.0.113.7", now - timedelta(seconds=100 - i))
    assert (
        retry_after_seconds(session=session, username="fresh", client="203.0.113.7", now=now) == 0
    )


def test_record_attempt_normalizes_and_truncates(session: Session) -> None:
    record_attempt(session=session, username="  BOB ", client="x" * 300, succeeded=True)
    row = session.exec(select(LoginAttempt)).one()
    assert row.username == "bob"
    assert len(row.client) == 128
    assert row.succeeded is True


def test_prune_deletes_only_attempts_far_outside_the_window(session: Session) -> None:
    now = utcnow()
    fail(session, "old", "c", now - WINDOW * 5)
    fail(session, "recent", "c", now - WINDOW)
    assert throttle.prune_attempts(session=session, now=now) == 1
    session.flush()
    assert [a.username for a in session.exec(select(LoginAttempt)).all()] == ["recent"]
