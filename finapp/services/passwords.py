"""Password hashing with argon2 (through libpass, which imports as `passlib`)."""

from __future__ import annotations

import secrets

from passlib.context import CryptContext

from finapp.services.errors import InvalidInput

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # argon2 would hash a megabyte happily; refuse it before it costs CPU

_context = CryptContext(schemes=["argon2"], deprecated="auto")

# Verified against when the username is unknown, so that case costs the same as a wrong password
# and response times don't reveal which usernames exist.
_DUMMY_HASH = _context.hash(secrets.token_urlsafe(32))


def hash_password(password: str) -> str:
    return _context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """True when `password` matches; with no hash, burn the same time and return False."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    if password_hash is None:
        _context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _context.verify(password, password_hash)
    except ValueError:  # a malformed stored hash must not become a 500 or a pass
        return False


def needs_rehash(password_hash: str) -> bool:
    return _context.needs_update(password_hash)


def check_password_strength(password: str, *, username: str = "") -> None:
    """Raise InvalidInput with the reason when the password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    if username and username.lower() in password.lower():
        raise InvalidInput("The password must not contain the username.")
    if len(set(password)) < 5:
        raise InvalidInput("The password is too repetitive; use more different characters.")


def generate_password() -> str:
    return secrets.token_urlsafe(18)  # 24 characters, ~144 bits
