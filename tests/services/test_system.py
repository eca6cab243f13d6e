"""System status for the health endpoint and the dashboard."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from finapp import __version__
from finapp.db import utcnow
from finapp.services.system import system_status
from tests.conftest import reload_settings


def test_status_is_healthy_with_a_reachable_sqlite_database(database: Path) -> None:
    status = system_status()
    assert (status.database, status.backend, status.version) == ("ok", "sqlite", __version__)
    assert status.healthy
    assert utcnow() - status.checked_at < timedelta(seconds=10)


def test_unreachable_database_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://x:y@127.0.0.1:1/db")
    reload_settings()
    status = system_status()
    assert (status.database, status.backend) == ("unreachable", "postgresql")
    assert not status.healthy
