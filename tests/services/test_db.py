"""Engine configuration and the unit of work."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from finapp import db
from finapp.models import User
from tests.conftest import reload_settings


def pragma(name: str):
    with db.get_engine().connect() as connection:
        return connection.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_runs_in_wal_mode(database: Path) -> None:
    assert str(pragma("journal_mode")).lower() == "wal"


def test_a_brand_new_sqlite_file_is_switched_to_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # journal_mode persists in the file, so prove it on one no other code has opened.
    path = tmp_path / "nested" / "fresh.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    reload_settings()
    assert str(pragma("journal_mode")).lower() == "wal"
    assert path.exists()


def test_sqlite_per_connection_pragmas_are_applied(database: Path) -> None:
    assert pragma("synchronous") == 1  # NORMAL (SQLite's default is FULL = 2)


def test_sqlite_waits_30_seconds_for_locks(database: Path) -> None:
    assert pragma("busy_timeout") == 30000


def test_sqlite_enforces_foreign_keys(database: Path) -> None:
    assert pragma("foreign_keys") == 1


def test_engine_uses_the_database_in_the_data_dir(database: Path) -> None:
    assert Path(db.get_engine().url.database) == database.resolve()


def usernames() -> list[str]:
    with db.session_scope() as session:
        return [u.username for u in session.exec(select(User)).all()]


def test_session_scope_commits_on_success(database: Path) -> None:
    with db.session_scope() as session:
        session.add(User(username="kept", password_hash="x"))
    assert usernames() == ["kept"]


def test_session_scope_rolls_back_on_an_exception(database: Path) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), db.session_scope() as session:
        session.add(User(username="discarded", password_hash="x"))
        session.flush()  # the row reached the database inside the transaction
        raise Boom
    assert usernames() == []


def test_utcnow_is_timezone_aware() -> None:
    assert db.utcnow().utcoffset() is not None
    assert db.utcnow().utcoffset().total_seconds() == 0


def test_a_released_savepoint_is_rolled_back_with_its_outer_transaction(database) -> None:
    from sqlmodel import select

    from finapp.models import User

    with pytest.raises(RuntimeError), db.session_scope() as session:
        session.exec(select(User)).all()  # a query first, as the upload route does
        with session.begin_nested():
            session.add(User(username="inner", password_hash="x"))
        raise RuntimeError("the request fails after the savepoint was released")
    with db.session_scope() as session:
        assert session.exec(select(User).where(User.username == "inner")).first() is None
