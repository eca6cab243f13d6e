"""Exactly one active scheduler per database.

SQLite (one host): an exclusive `flock` on a file in the data dir. PostgreSQL (any number of
hosts): a session-level advisory lock on a dedicated connection. Either is released by the
operating system or the server when the holder dies, so a passive process takes over.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

ADVISORY_KEY = 0x66696E61707001  # "finapp" + 1: unique to this application's scheduler


class SchedulerLock(Protocol):
    def acquire(self) -> bool: ...
    def healthy(self) -> bool: ...
    def release(self) -> None: ...
    @property
    def description(self) -> str: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def description(self) -> str:
        return f"file lock {self.path}"

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def healthy(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class AdvisoryLock:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    @property
    def description(self) -> str:
        return "PostgreSQL advisory lock"

    def acquire(self) -> bool:
        if self._connection is not None:
            return True
        try:
            connection = self.engine.connect()
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
            connection.commit()
        except SQLAlchemyError as exc:
            logger.warning("Could not try the scheduler lock: %s", exc)
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def healthy(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except SQLAlchemyError:
            logger.warning("Lost the scheduler lock's connection")
            self._connection = None
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            self._connection.commit()
            self._connection.close()
        except SQLAlchemyError:
            pass
        self._connection = None


def lock_for(engine: Engine, data_dir: Path) -> SchedulerLock:
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return FileLock(data_dir / "scheduler.lock")
