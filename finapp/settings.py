"""The one place environment variables are read.

Every setting has the environment name the operator types; a bad value stops the start with a
message that names that variable (see `SettingsError`).
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SECRET_FILE_NAME = "secret_key"


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), alias="FINAPP_DATA_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    secret_key: SecretStr | None = Field(None, alias="JWT_SECRET_KEY", min_length=32)
    admin_username: str | None = Field(
        None, alias="FINAPP_ADMIN_USERNAME", min_length=1, max_length=64, pattern=r"^[\w.@-]+$"
    )
    admin_password: SecretStr | None = Field(None, alias="FINAPP_ADMIN_PASSWORD")
    port: int = Field(3000, alias="PORT", ge=1, le=65535)
    host: str = Field("0.0.0.0", alias="FINAPP_HOST")  # noqa: S104 - a server is meant to be reachable
    public_base_url: AnyHttpUrl | None = Field(None, alias="FINAPP_PUBLIC_URL")
    session_hours: int = Field(12, alias="FINAPP_SESSION_HOURS", ge=1, le=24 * 30)
    access_token_minutes: int = Field(60, alias="FINAPP_ACCESS_TOKEN_MINUTES", ge=1, le=60 * 24)

    @field_validator("database_url")
    @classmethod
    def _parse_database_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'finapp.db').resolve()}"

    def app_secret(self) -> str:
        """The secret that keys token hashes: from the environment, else persisted in the data dir.

        Generated once on first start so no installation ever shares a built-in default.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        # O_EXCL: if two workers race on first start, exactly one secret wins and both read it.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(secret)
        return secret


def load_settings() -> Settings:
    """Read the environment, turning validation errors into one message per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("Invalid configuration — " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
