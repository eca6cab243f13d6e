"""The first admin account: from FINAPP_ADMIN_USERNAME/PASSWORD, or a generated password."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from finapp.models import User
from finapp.services import passwords
from finapp.services.auth import find_user, set_password
from finapp.services.errors import InvalidInput
from finapp.services.throttle import normalize_username
from finapp.settings import Settings

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_USERNAME = "admin"
GENERATED_PASSWORD_FILE = "initial-admin-password.txt"


@dataclass(frozen=True)
class AdminSetupResult:
    action: str  # created | password_reset | unchanged | generated
    username: str
    password_file: Path | None = None


def ensure_admin(*, session: Session, settings: Settings) -> AdminSetupResult:
    """Create or update the first admin as the environment says; never a default password."""
    if settings.admin_password is not None:
        username = normalize_username(settings.admin_username or DEFAULT_ADMIN_USERNAME)
        password = settings.admin_password.get_secret_value()
        passwords.check_password_strength(password, username=username)
        user = find_user(session=session, username=username)
        if user is None:
            user = User(username=username, password_hash=passwords.hash_password(password))
            session.add(user)
            return AdminSetupResult("created", username)
        if not passwords.verify_password(password, user.password_hash) or not user.is_active:
            set_password(session=session, user=user, password=password)
            user.is_active = True
            return AdminSetupResult("password_reset", username)
        return AdminSetupResult("unchanged", username)

    if settings.admin_username is not None:
        raise InvalidInput(
            "FINAPP_ADMIN_USERNAME is set without FINAPP_ADMIN_PASSWORD; set both or neither."
        )
    existing = session.exec(select(User).limit(1)).first()
    if existing is not None:
        return AdminSetupResult("unchanged", existing.username)
    password = passwords.generate_password()
    session.add(
        User(username=DEFAULT_ADMIN_USERNAME, password_hash=passwords.hash_password(password))
    )
    path = settings.data_dir / GENERATED_PASSWORD_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"username: {DEFAULT_ADMIN_USERNAME}\npassword: {password}\n")
    return AdminSetupResult("generated", DEFAULT_ADMIN_USERNAME, path)
