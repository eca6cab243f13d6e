"""Opaque random tokens and their keyed hashes (shared by login sessions and API tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from finapp.settings import get_settings


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


@lru_cache(maxsize=4)
def _key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def hash_token(token: str) -> str:
    """HMAC-SHA256 keyed with the app secret: a leaked database alone cannot forge a token, and
    lookups stay one indexed equality (tokens carry 256 random bits, so no slow hash is needed)."""
    key = _key(get_settings().app_secret())
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
