"""Personal and access tokens: creation rules, storage, authentication, revocation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from finapp import db
from finapp.db import utcnow
from finapp.services import api_tokens
from finapp.services.errors import InvalidInput, InvalidToken, NotFound
from finapp.settings import get_settings
from tests.conftest import reload_settings
from tests.services.conftest import MakeUser


def create(session: Session, user_id: int, name: str = "ci", days: int | None = None):
    return api_tokens.create_token(
        session=session, user_id=user_id, name=name, expires_in_days=days
    )


@pytest.mark.parametrize("name", ["", "   "])
def test_token_needs_a_name(session: Session, make_user: MakeUser, name: str) -> None:
    with pytest.raises(InvalidInput, match="name"):
        create(session, make_user().id, name=name)


def test_token_name_over_100_characters_is_refused(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    with pytest.raises(InvalidInput, match="at most 100"):
        create(session, user.id, name="n" * 101)
    assert create(session, user.id, name="n" * 100).record.name == "n" * 100


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_token_expiry_outside_1_to_3650_days_is_refused(
    session: Session, make_user: MakeUser, days: int
) -> None:
    with pytest.raises(InvalidInput, match="Expiry"):
        create(session, make_user().id, days=days)


def test_token_with_expiry_and_without(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    expiring = create(session, user.id, name="  spaced  ", days=30).record
    assert expiring.name == "spaced"
    assert timedelta(days=29, hours=23) < expiring.expires_at - utcnow() <= timedelta(days=30)
    assert create(session, user.id, days=None).record.expires_at is None


def test_plaintext_token_is_never_stored(session: Session, make_user: MakeUser) -> None:
    issued = create(session, make_user().id)
    session.commit()
    assert issued.token.startswith("fa_")
    assert issued.record.token_hash != issued.token
    assert issued.token.startswith(issued.record.prefix)
    assert len(issued.record.prefix) < len(issued.token) // 2

    row = session.execute(text("SELECT * FROM api_token")).one()
    secret_part = issued.token.split("_", 1)[1]
    for value in row:
        assert secret_part not in str(value)


def test_token_authenticates_its_user_and_marks_last_use(
    session: Session, make_user: MakeUser
) -> None:
    user = make_user()
    issued = create(session, user.id)
    assert issued.record.last_used_at is None
    assert api_tokens.authenticate_token(session=session, token=issued.token).id == user.id
    assert issued.record.last_used_at is not None
    assert utcnow() - issued.record.last_used_at < timedelta(seconds=10)


def test_revoked_token_is_refused(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    issued = create(session, user.id)
    revoked = api_tokens.revoke_token(session=session, user_id=user.id, token_id=issued.record.id)
    assert api_tokens.token_status(revoked) == "revoked"
    with pytest.raises(InvalidToken, match="revoked"):
        api_tokens.authenticate_token(session=session, token=issued.token)


def test_expired_token_is_refused(session: Session, make_user: MakeUser) -> None:
    issued = create(session, make_user().id, days=1)
    issued.record.expires_at = utcnow() - timedelta(seconds=1)
    session.add(issued.record)
    session.commit()
    assert api_tokens.token_status(issued.record) == "expired"
    with pytest.raises(InvalidToken, match="expired"):
        api_tokens.authenticate_token(session=session, token=issued.token)


def test_token_of_an_inactive_user_is_refused(session: Session, make_user: MakeUser) -> None:
    user = make_user()
    issued = create(session, user.id)
    user.is_active = False
    session.add(user)
    with pytest.raises(InvalidToken):
        api_tokens.authenticate_token(session=session, token=issued.token)


@pytest.mark.parametrize(
    "token", ["", "garbage", "fs_" + "a" * 43, "fa_" + "a" * 300, "fa_unknown-but-well-formed"]
)
def test_malformed_or_unknown_token_is_refused(
    session: Session, make_user: MakeUser, token: str
) -> None:
    create(session, make_user().id)
    with pytest.raises(InvalidToken):
        api_tokens.authenticate_token(session=session, token=token)


def test_revoking_another_users_token_is_not_found_and_leaves_it_working(
    session: Session, make_user: MakeUser
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bobs = create(session, bob.id)
    with pytest.raises(NotFound):
        api_tokens.revoke_token(session=session, user_id=alice.id, token_id=bobs.record.id)
    with pytest.raises(NotFound):
        api_tokens.revoke_token(session=session, user_id=alice.id, token_id=999_999)
    assert bobs.record.revoked_at is None
    assert api_tokens.authenticate_token(session=session, token=bobs.token).id == bob.id


def test_list_shows_own_personal_tokens_newest_first_without_access_tokens(
    session: Session, make_user: MakeUser
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    first = create(session, alice.id, name="first").record
    second = create(session, alice.id, name="second").record
    create(session, bob.id, name="bob's")
    access, lifetime = api_tokens.issue_access_token(session=session, user=alice)
    assert access.record.kind == "access"
    assert lifetime == 3600

    listed = api_tokens.list_tokens(session=session, user_id=alice.id)
    assert [t.id for t in listed] == [second.id, first.id]


def test_access_token_lifetime_follows_the_setting(
    session: Session, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user()
    monkeypatch.setenv("FINAPP_ACCESS_TOKEN_MINUTES", "5")
    get_settings.cache_clear()
    issued, lifetime = api_tokens.issue_access_token(session=session, user=user)
    assert lifetime == 300
    assert timedelta(minutes=4) < issued.record.expires_at - utcnow() <= timedelta(minutes=5)


def test_token_hash_is_keyed_by_the_app_secret(
    session: Session, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    user = make_user()
    issued = create(session, user.id)
    session.commit()
    assert (data_dir / "secret_key").exists()  # the generated secret keyed this token

    monkeypatch.setenv("JWT_SECRET_KEY", "another-secret-of-at-least-32-characters!")
    reload_settings()
    with db.session_scope() as other, pytest.raises(InvalidToken, match="Unknown"):
        api_tokens.authenticate_token(session=other, token=issued.token)

    monkeypatch.delenv("JWT_SECRET_KEY")
    reload_settings()
    with db.session_scope() as other:
        assert api_tokens.authenticate_token(session=other, token=issued.token).id == user.id
