"""Engine and unit of work. Sessions are opened only at the edges (state handlers, API
dependencies, scheduled jobs); services receive them as a keyword argument."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from finapp.settings import get_settings

SQLITE_BUSY_TIMEOUT_MS = 30_000

_engine: Engine | None = None


def utcnow() -> datetime:
    """Aware UTC. SQLModel's UTCDateTime columns refuse naive values and return aware UTC."""
    return datetime.now(UTC)


def build_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the UI read while a job writes; the busy timeout makes writers queue instead of
    # failing with "database is locked".
    # pysqlite's own transaction handling is kept on purpose: it begins a transaction at the
    # first write, so reads never hold a snapshot that a later write would have to upgrade
    # (which fails at once with "database is locked" under concurrency, busy timeout or not).
    # The price: SAVEPOINTs are unreliable on SQLite, so the code does not use them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = build_engine(get_settings().resolved_database_url)
    return _engine


def reset_engine() -> None:
    """Forget the engine (tests switch databases; settings are re-read)."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    _engine = None


@contextmanager
def session_scope() -> Iterator[Session]:
    """Commit on success, roll back on any error."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
