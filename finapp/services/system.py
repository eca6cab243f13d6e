"""System status shared by the health endpoint and the dashboard."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from finapp import __version__
from finapp.db import get_engine, session_scope, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SystemStatus:
    database: str  # ok | unreachable
    backend: str  # sqlite | postgresql | …
    version: str
    checked_at: datetime

    @property
    def healthy(self) -> bool:
        return self.database == "ok"


def system_status() -> SystemStatus:
    """Ping the database; never raises, so probes and the dashboard always get an answer."""
    backend = get_engine().dialect.name
    try:
        with session_scope() as session:
            session.exec(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError as exc:
        logger.warning("Database unreachable: %s", exc)
        database = "unreachable"
    return SystemStatus(database, backend, __version__, utcnow())
