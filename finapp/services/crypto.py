"""Encryption at rest for secrets the app must use again (mailbox passwords).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from the app secret: a copy of the
database alone does not reveal the passwords. Changing the app secret makes them unreadable
(re-enter them in the UI).
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from finapp.services.errors import InvalidInput
from finapp.settings import get_settings

_PURPOSE = b"finapp mailbox passwords v1\x00"


def _fernet() -> Fernet:
    digest = hashlib.sha256(_PURPOSE + get_settings().app_secret().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise InvalidInput(
            "A stored password cannot be decrypted (was the app secret changed?); enter it again."
        ) from None
