"""Email page: mailbox status, Check Now, statistics, downloads, problems, unassigned mail,
and the mailbox form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import reflex as rx

from finapp.db import session_scope
from finapp.services import email_ingest, mailboxes
from finapp.services.errors import FinappError
from finapp.state.auth import AuthState
from finapp.wording import counted


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


class EmailState(AuthState):
    mailboxes: list[dict[str, str]] = []
    stats: dict[str, str] = {}
    downloads: list[dict[str, str]] = []
    problems: list[dict[str, str]] = []
    unassigned: list[dict[str, str]] = []
    loading: bool = True
    checking: bool = False
    check_message: str = ""
    error: str = ""

    form_open: bool = False
    form_error: str = ""
    form_security: str = "ssl"
    form_post_action: str = "none"

    @rx.event
    def load(self) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        self._reload()
        return None

    def _reload(self) -> None:
        with session_scope() as session:
            self.mailboxes = [
                {
                    "id": str(m.id),
                    "name": m.name,
                    "source": m.source,
                    "address": m.address,
                    "server": f"{m.imap_server}:{m.imap_port} ({m.security})",
                    "folder": m.folder,
                    "status": (
                        m.last_status
                        if m.last_status == mailboxes.UNCONFIGURED or m.enabled
                        else "disabled"
                    ),
                    "last_check": _iso(m.last_check_at),
                    "last_error": m.last_error,
                    "post_action": m.post_action
                    + (f" {m.post_action_arg}" if m.post_action_arg else ""),
                }
                for m in mailboxes.list_mailboxes(session=session)
            ]
            stats = email_ingest.statistics(session=session)
            self.stats = {
                "processed": str(stats["emails_processed"]),
                "files": str(stats["files_downloaded"]),
                "skipped": str(stats["skipped"]),
                "failed": str(stats["failed"]),
                "unassigned": str(stats["unassigned"]),
                "last_check": stats["last_check"] or "",
            }
            self.downloads = [
                {
                    **{k: str(v) for k, v in row.items() if k != "received_at"},
                    "received_at": _iso(row["received_at"]),
                }
                for row in email_ingest.recent_downloads(session=session)
            ]
            self.problems = [
                {
                    "status": m.status,
                    "sender": m.sender,
                    "subject": m.subject,
                    "reason": m.reason,
                    "received_at": _iso(m.received_at),
                }
                for m in email_ingest.messages_with_status(
                    session=session, statuses=["skipped", "failed"], limit=30
                )
            ]
            self.unassigned = [
                {
                    "id": str(m.id),
                    "sender": m.sender,
                    "subject": m.subject,
                    "attachments": ", ".join(m.attachment_names),
                    "received_at": _iso(m.received_at),
                }
                for m in email_ingest.messages_with_status(session=session, statuses=["unassigned"])
            ]
        self.loading = False

    @rx.event(background=True)
    async def check_now(self) -> AsyncIterator[Any]:
        async with self:
            if self._signed_in_user_id() is None:
                return
            self.checking = True
            self.check_message = ""
            self.error = ""
        results = await asyncio.to_thread(email_ingest.check_all)
        async with self:
            self.checking = False
            if not results:
                self.error = "No mailbox configured yet: add one below or set EMAIL_* variables."
            else:
                files = sum(len(r.new_files) for r in results)
                messages = sum(r.new_messages for r in results)
                errors = [f"{r.mailbox}: {r.error}" for r in results if r.status != "ok"]
                self.check_message = (
                    f"{counted(messages, 'new message')}, {counted(files, 'file')} stored."
                )
                self.error = " ".join(errors)
            self._reload()
        yield rx.toast.info(self.check_message or "Check finished.")

    @rx.event
    def assign(self, form_data: dict[str, Any]) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            entry = email_ingest.assign_project(
                ledger_id=int(form_data.get("ledger_id", 0)),
                project_id=str(form_data.get("project_id", "")).strip(),
            )
        except (FinappError, ValueError, OSError) as exc:
            self.error = email_ingest.describe_error(exc) if isinstance(exc, OSError) else str(exc)
            return None
        self._reload()
        return rx.toast.success(
            f"Assigned to {entry.project_id}: {counted(len(entry.file_ids), 'file')}."
        )

    # -- mailbox form ----------------------------------------------------------------------
    @rx.event
    def open_form(self) -> None:
        self.form_error = ""
        self.form_security = "ssl"
        self.form_post_action = "none"
        self.form_open = True

    @rx.event
    def set_form_open(self, value: bool) -> None:
        self.form_open = value

    @rx.event
    def set_form_security(self, value: str) -> None:
        self.form_security = value

    @rx.event
    def set_form_post_action(self, value: str) -> None:
        self.form_post_action = value

    @rx.event
    def save_mailbox(self, form_data: dict[str, Any]) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            port = str(form_data.get("imap_port", "")).strip()
            with session_scope() as session:
                mailboxes.create_mailbox(
                    session=session,
                    name=str(form_data.get("name", "")),
                    password=str(form_data.get("password", "")),
                    address=str(form_data.get("address", "")).strip(),
                    imap_server=str(form_data.get("imap_server", "")).strip(),
                    imap_port=int(port) if port else mailboxes.SECURITY_PORTS[self.form_security],
                    security=self.form_security,
                    folder=str(form_data.get("folder", "")).strip() or "INBOX",
                    sender_whitelist=str(form_data.get("sender_whitelist", "")),
                    default_project=str(form_data.get("default_project", "")).strip(),
                    post_action=self.form_post_action,
                    post_action_arg=str(form_data.get("post_action_arg", "")).strip(),
                )
        except (FinappError, ValueError) as exc:
            self.form_error = str(exc)
            return None
        self.form_open = False
        self._reload()
        return rx.toast.success("Mailbox added. Use Check now to test the connection.")

    @rx.event
    def toggle_mailbox(self, mailbox_id: str, enabled: bool) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            with session_scope() as session:
                mailboxes.update_mailbox(
                    session=session, mailbox_id=int(mailbox_id), enabled=enabled
                )
        except FinappError as exc:
            self.error = str(exc)
        self._reload()
        return None

    @rx.event
    def delete_mailbox(self, mailbox_id: str) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            with session_scope() as session:
                mailboxes.delete_mailbox(session=session, mailbox_id=int(mailbox_id))
        except FinappError as exc:
            self.error = str(exc)
            return None
        self._reload()
        return rx.toast.success("Mailbox removed (its history of processed mail with it).")
