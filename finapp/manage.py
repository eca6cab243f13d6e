"""Operator commands: `python -m finapp.manage prepare` runs before every start.

prepare = validate settings, create the data dir and secret, apply migrations, ensure the admin.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from alembic.config import Config

from alembic import command
from finapp.db import session_scope
from finapp.services.admin_setup import ensure_admin
from finapp.services.errors import FinappError
from finapp.services.mailboxes import sync_env_mailbox, sync_poll_job
from finapp.settings import SettingsError, get_settings

logger = logging.getLogger("finapp.manage")

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def migrate() -> None:
    command.upgrade(alembic_config(), "head")


def prepare() -> None:
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.app_secret()
    migrate()
    with session_scope() as session:
        result = ensure_admin(session=session, settings=settings)
    with session_scope() as session:
        sync_env_mailbox(session=session, settings=settings)
        sync_poll_job(session=session)
    if result.action == "generated":
        logger.warning(
            "Created admin user %r with a generated password, written to %s (readable by you only)",
            result.username,
            result.password_file,
        )
    elif result.action in ("created", "password_reset"):
        logger.info("Admin user %r: %s", result.username, result.action.replace("_", " "))


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m finapp.manage")
    parser.add_argument("command", choices=["prepare", "migrate", "check-settings"])
    args = parser.parse_args(argv)
    try:
        if args.command == "check-settings":
            get_settings()
        elif args.command == "migrate":
            migrate()
        else:
            prepare()
    except (SettingsError, FinappError) as exc:
        logger.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
