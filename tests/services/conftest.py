"""Helpers for service tests: users with a known password, without paying argon2 per test."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pytest
from sqlmodel import Session

from finapp.models import User
from finapp.services.passwords import hash_password

PASSWORD = "correct horse battery staple"

MakeUser = Callable[..., User]


@lru_cache(maxsize=16)
def cached_hash(password: str) -> str:
    """argon2 costs ~0.1 s; a hash is a pure function of its input, so tests may share one."""
    return hash_password(password)


@pytest.fixture
def make_user(session: Session) -> MakeUser:
    def make(username: str = "alice", password: str = PASSWORD, *, is_active: bool = True) -> User:
        user = User(username=username, password_hash=cached_hash(password), is_active=is_active)
        session.add(user)
        session.flush()
        return user

    return make
