"""Shared fixtures: a migrated SQLite database per test (copied from one migrated template),
settings pointed at a private data dir, and a private PostgreSQL server when asked for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from finapp import db
from finapp.manage import alembic_config
from finapp.services import extraction_queue
from finapp.settings import get_settings

ENV_VARS = (
    "DATABASE_URL",
    "FINAPP_DATA_DIR",
    "JWT_SECRET_KEY",
    "FINAPP_ADMIN_USERNAME",
    "FINAPP_ADMIN_PASSWORD",
    "PORT",
    "FINAPP_HOST",
    "FINAPP_PUBLIC_URL",
    "FINAPP_SESSION_HOURS",
    "FINAPP_ACCESS_TOKEN_MINUTES",
    "FINAPP_MAX_FILE_MB",
    "FINAPP_DEFAULT_CURRENCY",
    "DROPBOX_WEBHOOK_SECRET",
    "GOOGLE_WEBHOOK_SECRET",
    "ONEDRIVE_WEBHOOK_SECRET",
    "FINAPP_WEBHOOK_MAX_BODY_KB",
    "FINAPP_WEBHOOK_RETENTION_DAYS",
    "FINAPP_WEBHOOK_MAX_EVENTS",
)


def reload_settings() -> None:
    get_settings.cache_clear()
    db.reset_engine()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (migrating per test is slow)."""
    from alembic import command

    path = tmp_path_factory.mktemp("template") / "finapp.db"
    config = alembic_config(f"sqlite:///{path}")
    config.attributes["skip_logging_config"] = True
    command.upgrade(config, "head")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Iterator[None]:
    """No test sees the developer's environment or another test's database."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FINAPP_DATA_DIR", str(data_dir))
    reload_settings()
    yield
    # Queued extractions belong to this test's database: finish them before it goes away.
    assert extraction_queue.drain(timeout=60), "queued extractions did not finish"
    reload_settings()


@pytest.fixture
def database(data_dir: Path, migrated_template: Path) -> Path:
    """A migrated SQLite database in this test's data dir (the default location)."""
    target = data_dir / "finapp.db"
    shutil.copyfile(migrated_template, target)
    return target


@pytest.fixture
def session(database: Path) -> Iterator[Session]:
    with db.session_scope() as s:
        yield s
