"""Password hashing and the strength rules."""

from __future__ import annotations

import pytest

from finapp.services import passwords
from finapp.services.errors import InvalidInput
from tests.services.conftest import PASSWORD, cached_hash


def test_hash_is_argon2_and_salted() -> None:
    first = passwords.hash_password(PASSWORD)
    second = passwords.hash_password(PASSWORD)
    assert first.startswith("$argon2")
    assert PASSWORD not in first
    assert first != second  # a fresh salt each time


def test_verify_accepts_the_right_password() -> None:
    assert passwords.verify_password(PASSWORD, cached_hash(PASSWORD)) is True


def test_verify_rejects_a_wrong_password() -> None:
    assert passwords.verify_password(PASSWORD + "x", cached_hash(PASSWORD)) is False


def test_verify_without_a_stored_hash_returns_false() -> None:
    # The unknown-user path: no hash, still a full verification against the dummy, then False.
    assert passwords.verify_password(PASSWORD, None) is False


def test_verify_refuses_an_oversize_password_even_if_it_matches() -> None:
    huge = "a1b2c3d4e5" * 103  # 1030 characters, over MAX_PASSWORD_LENGTH
    assert len(huge) > passwords.MAX_PASSWORD_LENGTH
    assert passwords.verify_password(huge, cached_hash(huge)) is False


@pytest.mark.parametrize(
    "stored", ["", "not-a-hash", "$argon2id$v=19$garbage", "$2b$12$truncatedbcrypt"]
)
def test_malformed_stored_hash_returns_false_instead_of_raising(stored: str) -> None:
    assert passwords.verify_password(PASSWORD, stored) is False


def test_strong_password_is_accepted() -> None:
    passwords.check_password_strength(PASSWORD, username="alice")


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("Short1!xyz", "", "at least 12"),
        ("x" * (passwords.MAX_PASSWORD_LENGTH - 4) + "abcde", "", "at most"),
        ("my-ALICE-password-2024", "alice", "username"),
        ("abababababababab", "", "repetitive"),
        ("aaaa1111bbbb", "", "repetitive"),
    ],
    ids=[
        "too-short",
        "too-long",
        "contains-username-case-insensitively",
        "two-chars",
        "four-chars",
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    password: str, username: str, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        passwords.check_password_strength(password, username=username)


def test_generated_password_passes_the_strength_rules() -> None:
    generated = passwords.generate_password()
    assert len(generated) >= passwords.MIN_PASSWORD_LENGTH
    passwords.check_password_strength(generated, username="admin")
    assert passwords.generate_password() != generated
