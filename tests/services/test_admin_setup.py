"""The first admin account, as `python -m finapp.manage prepare` makes it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlmodel import Session, select

from finapp import db
from finapp.models import User
from finapp.services import auth
from finapp.services.admin_setup import GENERATED_PASSWORD_FILE, ensure_admin
from finapp.services.errors import InvalidCredentials, InvalidInput
from finapp.settings import get_settings
from tests.conftest import reload_settings

FIRST = "first sturdy passphrase"
SECOND = "second sturdy passphrase"


def run_ensure_admin():
    with db.session_scope() as session:
        return ensure_admin(session=session, settings=get_settings())


def can_sign_in(username: str, password: str) -> bool:
    with db.session_scope() as session:
        try:
            auth.authenticate(session=session, username=username, password=password, client="t")
        except InvalidCredentials:
            return False
        return True


def users() -> list[str]:
    with db.session_scope() as session:
        return [u.username for u in session.exec(select(User)).all()]


def test_admin_from_env_is_created_then_unchanged_then_reset_when_the_env_password_changes(
    database: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("FINAPP_ADMIN_USERNAME", "Boss")
    monkeypatch.setenv("FINAPP_ADMIN_PASSWORD", FIRST)
    reload_settings()

    result = run_ensure_admin()
    assert (result.action, result.username, result.password_file) == ("created", "boss", None)
    assert users() == ["boss"]
    assert can_sign_in("boss", FIRST)

    assert run_ensure_admin().action == "unchanged"

    monkeypatch.setenv("FINAPP_ADMIN_PASSWORD", SECOND)
    reload_settings()
    assert run_ensure_admin().action == "password_reset"
    assert can_sign_in("boss", SECOND)
    assert not can_sign_in("boss", FIRST)
    assert users() == ["boss"]
    assert not (data_dir / GENERATED_PASSWORD_FILE).exists()


def test_env_password_reactivates_a_disabled_admin(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINAPP_ADMIN_PASSWORD", FIRST)
    reload_settings()
    assert run_ensure_admin().action == "created"
    with db.session_scope() as session:
        user = session.exec(select(User)).one()
        assert user.username == "admin"  # the default username
        user.is_active = False
    assert run_ensure_admin().action == "password_reset"
    assert can_sign_in("admin", FIRST)


def test_without_env_and_users_a_password_is_generated_into_a_private_file(
    database: Path, data_dir: Path
) -> None:
    result = run_ensure_admin()
    assert result.action == "generated"
    assert result.username == "admin"
    assert result.password_file == data_dir / GENERATED_PASSWORD_FILE

    path = result.password_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = dict(line.split(": ", 1) for line in path.read_text().splitlines())
    assert lines["username"] == "admin"
    password = lines["password"]
    assert len(password) >= 12
    assert can_sign_in("admin", password)
    assert not can_sign_in("admin", password + "x")


def test_second_run_without_env_is_unchanged_and_does_not_rewrite_the_file(
    database: Path, data_dir: Path
) -> None:
    first = run_ensure_admin()
    before = first.password_file.stat()
    content = first.password_file.read_text()

    second = run_ensure_admin()
    assert (second.action, second.username, second.password_file) == ("unchanged", "admin", None)
    after = (data_dir / GENERATED_PASSWORD_FILE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert first.password_file.read_text() == content
    assert users() == ["admin"]


def test_existing_user_means_nothing_is_generated(session: Session, data_dir: Path) -> None:
    session.add(User(username="someone", password_hash="$argon2id$placeholder"))
    session.flush()
    result = ensure_admin(session=session, settings=get_settings())
    assert (result.action, result.username) == ("unchanged", "someone")
    assert not (data_dir / GENERATED_PASSWORD_FILE).exists()


@pytest.mark.parametrize("weak", ["short", "aaaaaaaaaaaaaaaa", "admin-password-123"])
def test_weak_env_password_is_refused_and_creates_nobody(
    database: Path, monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("FINAPP_ADMIN_PASSWORD", weak)
    reload_settings()
    with pytest.raises(InvalidInput):
        run_ensure_admin()
    assert users() == []


def test_username_without_password_is_refused(
    database: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("FINAPP_ADMIN_USERNAME", "boss")
    reload_settings()
    with pytest.raises(InvalidInput, match="FINAPP_ADMIN_PASSWORD"):
        run_ensure_admin()
    assert users() == []
    assert not (data_dir / GENERATED_PASSWORD_FILE).exists()
