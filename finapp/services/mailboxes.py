"""Mailbox configuration: the default one from EMAIL_* and more added in the UI."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from sqlmodel import Session, col, select

from finapp.db import utcnow
from finapp.models import Mailbox
from finapp.services import crypto
from finapp.services.errors import Conflict, InvalidInput, NotFound
from finapp.settings import Settings

ENV_MAILBOX = "default"
SECURITY_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
POST_ACTIONS = ("none", "seen", "move", "flag")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HOST_PATTERN = re.compile(r"^[A-Za-z0-9.-]{1,253}$")
FIELDS = (
    "address",
    "password",
    "imap_server",
    "imap_port",
    "security",
    "ca_file",
    "folder",
    "sender_whitelist",
    "default_project",
    "post_action",
    "post_action_arg",
    "enabled",
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


UNCONFIGURED = "unconfigured"  # last_status of the default mailbox while EMAIL_* are unset


def sync_env_mailbox(*, session: Session, settings: Settings) -> Mailbox | None:
    """Create or update the mailbox configured by EMAIL_*; disable it when they are unset, and
    enable it again when they are back. An admin's own disabling survives restarts."""
    existing = session.exec(select(Mailbox).where(Mailbox.name == ENV_MAILBOX)).first()
    if not settings.email_address or settings.email_password is None:
        if existing is not None and existing.source == "env" and existing.enabled:
            existing.enabled = False
            existing.last_status = UNCONFIGURED  # so it comes back when EMAIL_* do
            existing.updated_at = utcnow()
            session.add(existing)
        return existing
    values = {
        "address": settings.email_address,
        "imap_server": settings.email_imap_server,
        "imap_port": settings.email_imap_port or SECURITY_PORTS[settings.email_security],
        "security": settings.email_security,
        "ca_file": settings.email_ca_file,
        "folder": settings.email_folder,
        "sender_whitelist": settings.email_sender_whitelist,
        "default_project": settings.email_default_project,
    }
    _validate(values)
    mailbox = existing or Mailbox(name=ENV_MAILBOX, source="env", **values)
    if existing is not None:
        if existing.source != "env":
            raise Conflict(f"A mailbox named {ENV_MAILBOX!r} was added in the UI; rename it.")
        for key, value in values.items():
            setattr(mailbox, key, value)
        if mailbox.last_status == UNCONFIGURED:  # disabled by unset EMAIL_*, not by an admin
            mailbox.enabled, mailbox.last_status = True, "never"
    mailbox.updated_at = utcnow()
    session.add(mailbox)
    session.flush()
    return mailbox


def password_for(mailbox: Mailbox, settings: Settings) -> str:
    if mailbox.source == "env":
        if settings.email_password is None:
            raise InvalidInput("EMAIL_PASSWORD is not set.")
        return settings.email_password.get_secret_value()
    return crypto.decrypt(mailbox.password_encrypted)


def create_mailbox(*, session: Session, name: str, password: str, **values: Any) -> Mailbox:
    name = (name or "").strip()
    if not NAME_PATTERN.fullmatch(name) or name == ENV_MAILBOX:
        raise InvalidInput(
            "A mailbox name is 1 to 64 letters, digits, '.', '_' or '-' "
            f"(and not {ENV_MAILBOX!r}, which is the one from EMAIL_*)."
        )
    if session.exec(select(Mailbox.id).where(Mailbox.name == name)).first() is not None:
        raise Conflict(f"A mailbox named {name!r} already exists.")
    if not password:
        raise InvalidInput("Give the mailbox password (an app password for Gmail/Outlook).")
    values.setdefault("imap_port", SECURITY_PORTS[values.get("security", "ssl")])
    _validate(values)
    mailbox = Mailbox(name=name, source="ui", password_encrypted=crypto.encrypt(password), **values)
    session.add(mailbox)
    session.flush()
    sync_poll_job(session=session)
    return mailbox


def update_mailbox(*, session: Session, mailbox_id: int, **changes: Any) -> Mailbox:
    mailbox = get_mailbox(session=session, mailbox_id=mailbox_id)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"Cannot change {', '.join(sorted(unknown))}.")
    if mailbox.source == "env" and set(changes) - {"enabled", "post_action", "post_action_arg"}:
        raise InvalidInput("The default mailbox is configured by the EMAIL_* environment.")
    password = changes.pop("password", None)
    merged = {k: getattr(mailbox, k) for k in FIELDS if k != "password"} | changes
    _validate(merged)
    for key, value in changes.items():
        setattr(mailbox, key, value)
    if password:
        mailbox.password_encrypted = crypto.encrypt(password)
    mailbox.updated_at = utcnow()
    session.add(mailbox)
    session.flush()
    sync_poll_job(session=session)
    return mailbox


def delete_mailbox(*, session: Session, mailbox_id: int) -> None:
    mailbox = get_mailbox(session=session, mailbox_id=mailbox_id)
    if mailbox.source == "env":
        raise InvalidInput("The default mailbox comes from EMAIL_*; unset those to remove it.")
    session.delete(mailbox)
    session.flush()
    sync_poll_job(session=session)


def sync_poll_job(*, session: Session) -> None:
    """The email-check job runs while at least one mailbox is enabled."""
    from finapp.services.batch_jobs import ensure_email_job  # batch jobs import the file store
    from finapp.settings import get_settings

    enabled = session.exec(select(Mailbox.id).where(Mailbox.enabled)).first() is not None
    ensure_email_job(
        session=session, poll_minutes=get_settings().email_poll_minutes, wanted=enabled
    )


def get_mailbox(*, session: Session, mailbox_id: int) -> Mailbox:
    mailbox = session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise NotFound(f"No mailbox {mailbox_id}.")
    return mailbox


def list_mailboxes(*, session: Session, enabled_only: bool = False) -> list[Mailbox]:
    query = select(Mailbox).order_by(col(Mailbox.source), col(Mailbox.name))
    if enabled_only:
        query = query.where(Mailbox.enabled)
    return list(session.exec(query).all())


def whitelist_entries(text: str) -> list[str]:
    return [e.strip().lower() for e in re.split(r"[,;\s]+", text or "") if e.strip()]


def _validate(values: dict[str, Any]) -> None:
    server = str(values.get("imap_server", "")).strip()
    if not HOST_PATTERN.fullmatch(server):
        raise InvalidInput(f"IMAP server {server[:80]!r} is not a host name.")
    security = values.get("security", "ssl")
    if security not in SECURITY_PORTS:
        raise InvalidInput("Security is ssl, starttls or none.")
    if security == "none" and not is_loopback(server):
        raise InvalidInput(
            "Unencrypted IMAP is only allowed to this machine (localhost); use ssl or starttls."
        )
    port = values.get("imap_port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("The IMAP port is a number from 1 to 65535.")
    if "@" not in str(values.get("address", "")) and not values.get("address"):
        raise InvalidInput("Give the mailbox login (usually the email address).")
    if values.get("post_action", "none") not in POST_ACTIONS:
        raise InvalidInput(f"After processing: one of {', '.join(POST_ACTIONS)}.")
    if values.get("post_action") in ("move", "flag") and not values.get("post_action_arg"):
        raise InvalidInput("Moving needs a folder name; flagging needs a keyword.")
    for entry in whitelist_entries(values.get("sender_whitelist", "")):
        if "@" not in entry:
            raise InvalidInput(f"Whitelist entry {entry!r} is neither an address nor @domain.")
