"""The one place environment variables are read.

Every setting has the environment name the operator types; a bad value stops the start with a
message that names that variable (see `SettingsError`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SECRET_FILE_NAME = "secret_key"
MIN_SECRET_LENGTH = 32


class SettingsError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), alias="FINAPP_DATA_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    secret_key: SecretStr | None = Field(None, alias="JWT_SECRET_KEY", min_length=MIN_SECRET_LENGTH)
    admin_username: str | None = Field(
        None, alias="FINAPP_ADMIN_USERNAME", min_length=1, max_length=64, pattern=r"^[\w.@-]+$"
    )
    admin_password: SecretStr | None = Field(None, alias="FINAPP_ADMIN_PASSWORD")
    port: int = Field(3000, alias="PORT", ge=1, le=65535)
    host: str = Field("0.0.0.0", alias="FINAPP_HOST")  # noqa: S104 - a server is meant to be reachable
    public_base_url: AnyHttpUrl | None = Field(None, alias="FINAPP_PUBLIC_URL")
    session_hours: int = Field(12, alias="FINAPP_SESSION_HOURS", ge=1, le=24 * 30)
    access_token_minutes: int = Field(60, alias="FINAPP_ACCESS_TOKEN_MINUTES", ge=1, le=60 * 24)
    max_file_mb: int = Field(50, alias="FINAPP_MAX_FILE_MB", ge=1, le=4096)
    default_currency: str = Field("EUR", alias="FINAPP_DEFAULT_CURRENCY", pattern=r"^[A-Z]{3}$")
    default_timezone: str = Field("UTC", alias="FINAPP_TIMEZONE")
    scheduler_enabled: bool = Field(True, alias="FINAPP_SCHEDULER")
    job_misfire_grace_seconds: int = Field(3600, alias="FINAPP_JOB_MISFIRE_GRACE_SECONDS", ge=0)
    job_run_retention: int = Field(200, alias="FINAPP_JOB_RUN_RETENTION", ge=1)

    # The default mailbox (names kept from the existing platform).
    email_address: str | None = Field(None, alias="EMAIL_ADDRESS", max_length=254)
    email_password: SecretStr | None = Field(None, alias="EMAIL_PASSWORD")
    email_imap_server: str = Field("imap.gmail.com", alias="EMAIL_IMAP_SERVER", max_length=253)
    email_imap_port: int | None = Field(None, alias="EMAIL_IMAP_PORT", ge=1, le=65535)
    email_security: str = Field("ssl", alias="EMAIL_SECURITY", pattern=r"^(ssl|starttls|none)$")
    email_folder: str = Field("INBOX", alias="EMAIL_FOLDER", max_length=200)
    email_sender_whitelist: str = Field("", alias="EMAIL_SENDER_WHITELIST")
    email_poll_minutes: int = Field(5, alias="EMAIL_POLL_MINUTES", ge=1, le=1440)
    email_ca_file: str = Field("", alias="EMAIL_CA_FILE")
    email_default_project: str = Field("", alias="EMAIL_DEFAULT_PROJECT", max_length=64)

    # Cloud-storage webhook receivers. A provider without its secret refuses every notification:
    # nothing unverified is ever accepted. Length limits are the providers' own (Drive channel
    # token ≤ 256, Graph clientState ≤ 128), so a secret they would refuse fails at start.
    dropbox_webhook_secret: SecretStr | None = Field(
        None, alias="DROPBOX_WEBHOOK_SECRET", max_length=1024
    )
    google_webhook_secret: SecretStr | None = Field(
        None, alias="GOOGLE_WEBHOOK_SECRET", max_length=256
    )
    onedrive_webhook_secret: SecretStr | None = Field(
        None, alias="ONEDRIVE_WEBHOOK_SECRET", max_length=128
    )
    webhook_max_body_kb: int = Field(256, alias="FINAPP_WEBHOOK_MAX_BODY_KB", ge=1, le=10240)
    webhook_retention_days: int = Field(90, alias="FINAPP_WEBHOOK_RETENTION_DAYS", ge=1, le=3650)
    webhook_max_events: int = Field(100_000, alias="FINAPP_WEBHOOK_MAX_EVENTS", ge=100)

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator(
        "dropbox_webhook_secret", "google_webhook_secret", "onedrive_webhook_secret", mode="before"
    )
    @classmethod
    def _blank_secret_is_unset(cls, value: object) -> object:
        # `DROPBOX_WEBHOOK_SECRET=` in an env file means "not configured", not "the empty key"
        # (an empty HMAC key would make every signature forgeable).
        if isinstance(value, str) and not value.strip():
            return None
        return value

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
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @property
    def webhook_max_body_bytes(self) -> int:
        return self.webhook_max_body_kb * 1024

    @property
    def public_url(self) -> str:
        """Where providers reach this installation: FINAPP_PUBLIC_URL, else localhost:PORT."""
        if self.public_base_url is not None:
            return str(self.public_base_url).rstrip("/")
        return f"http://localhost:{self.port}"

    @property
    def files_dir(self) -> Path:
        """Content-addressed blobs: files/<aa>/<bb>/<sha256>."""
        return self.data_dir / "files"

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
        if not path.exists():
            self._create_secret_file(path)
        secret = path.read_text().strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"{path} holds no usable secret (fewer than {MIN_SECRET_LENGTH} characters). "
                "Delete it to generate a new one (this signs everyone out) or set JWT_SECRET_KEY."
            )
        return secret

    @staticmethod
    def _create_secret_file(path: Path) -> None:
        # Written in full to a private temporary file, then linked into place: link() fails if the
        # name exists, so when workers race on first start exactly one secret wins, and nobody
        # can ever read a half-written file.
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink()


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
