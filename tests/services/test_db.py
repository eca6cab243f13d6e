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


def test_concurrent_read_then_write_transactions_do_not_fail_as_locked(database: Path) -> None:
    """Each worker reads, then writes, in one unit of work, as services do. With transactions
    opened at BEGIN (not at the first write) SQLite refuses the upgrade at once under
    contention ("database is locked"); this must wait its turn instead."""
    import threading

    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                with db.session_scope() as session:
                    session.exec(select(User)).all()
                    session.add(User(username=f"w{worker}-{i}", password_hash="x"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session_scope() as session:
        assert len(session.exec(select(User)).all()) == 60
