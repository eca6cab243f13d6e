"""Webhooks page: provider cards, statistics, the live event log and event details."""

from __future__ import annotations

import json
from typing import Any

import reflex as rx
from sqlmodel import func, select

from finapp.components.controls import ALL
from finapp.db import session_scope
from finapp.models import WebhookEvent
from finapp.services import webhooks
from finapp.services.errors import FinappError
from finapp.state.auth import AuthState
from finapp.state.live import watch_changes
from finapp.state.paging import range_label

PAGE_SIZE = 25
ROUTE = "/webhooks"
SETUP_STEPS = {
    "dropbox": "App console → your app → Webhooks: add the URL. Set DROPBOX_WEBHOOK_SECRET to "
    "the app secret (signatures are HMAC-SHA256 of the body with it).",
    "google-drive": "Create a channel with changes.watch (type web_hook, address = the URL, "
    "token = GOOGLE_WEBHOOK_SECRET). Channels expire: renew them before expiry.",
    "onedrive": "POST /subscriptions to Microsoft Graph with notificationUrl = the URL and "
    "clientState = ONEDRIVE_WEBHOOK_SECRET; renew before expirationDateTime.",
}


def _latest_id() -> int:
    with session_scope() as session:
        return session.exec(select(func.max(WebhookEvent.id))).one() or 0


class WebhooksState(AuthState):
    providers: list[dict[str, str]] = []
    per_day: list[dict[str, Any]] = []
    by_type: list[dict[str, str]] = []
    events: list[dict[str, str]] = []
    total: int = 0
    page: int = 0
    filter_provider: str = ALL
    filter_status: str = ALL
    loading: bool = True
    error: str = ""
    detail: dict[str, str] = {}
    _watch_generation: int = 0
    _seen_id: int = 0

    @rx.var
    def page_label(self) -> str:
        return range_label(self.page, PAGE_SIZE, self.total, "No events")

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.total

    @rx.var
    def detail_open(self) -> bool:
        return bool(self.detail)

    @rx.event
    def load(self) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        self._reload()
        self._watch_generation += 1
        return WebhooksState.watch

    def _reload(self) -> None:
        def chosen(value: str) -> str | None:
            return None if value == ALL else value

        with session_scope() as session:
            self.providers = [
                {
                    "provider": p.provider,
                    "name": p.name,
                    "configured": "1" if p.configured else "",
                    "setting": p.secret_setting,
                    "url": p.webhook_url,
                    "events": str(p.events),
                    "rejected": str(p.rejected),
                    "last_event_at": p.last_event_at.isoformat() if p.last_event_at else "",
                    "last_event_type": p.last_event_type or "",
                    "last_error": p.last_error or "",
                    "lifecycle": p.last_lifecycle_event or "",
                    "setup": SETUP_STEPS.get(p.provider, ""),
                }
                for p in webhooks.provider_status(session=session)
            ]
            stats = webhooks.statistics(session=session)
            self.per_day = [
                {
                    "day": row["date"][5:],
                    "Accepted": row["accepted"],
                    "Duplicate": row["duplicate"],
                    "Rejected": row["rejected"],
                }
                for row in stats["per_day"]
            ]
            self.by_type = [
                {"type": name, "count": str(count)} for name, count in stats["by_type"].items()
            ][:12]
            events, self.total = webhooks.list_events(
                session=session,
                provider=chosen(self.filter_provider),
                status=chosen(self.filter_status),
                limit=PAGE_SIZE,
                offset=self.page * PAGE_SIZE,
            )
            self.events = [
                {
                    "id": str(e.id),
                    "timestamp": e.received_at.isoformat(),
                    "provider": e.provider,
                    "event_type": e.event_type,
                    "status": e.status,
                    "account": e.account or "",
                    "verification": e.verification,
                }
                for e in events
            ]
            self._seen_id = session.exec(select(func.max(WebhookEvent.id))).one() or 0
        self.loading = False

    @rx.event(background=True)
    async def watch(self) -> None:
        """Push new events to the page as they arrive (one indexed max() a second)."""
        await watch_changes(
            self, route=ROUTE, probe=_latest_id, seen=lambda: self._seen_id, reload=self._reload
        )

    @rx.event
    def set_filter_provider(self, value: str) -> None:
        self.filter_provider, self.page = value, 0
        self._reload()

    @rx.event
    def set_filter_status(self, value: str) -> None:
        self.filter_status, self.page = value, 0
        self._reload()

    @rx.event
    def next_page(self) -> None:
        if self.has_next:
            self.page += 1
            self._reload()

    @rx.event
    def previous_page(self) -> None:
        if self.page > 0:
            self.page -= 1
            self._reload()

    @rx.event
    def show_event(self, event_id: str) -> Any:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        try:
            with session_scope() as session:
                detail = webhooks.event_detail(
                    webhooks.get_event(session=session, event_id=int(event_id))
                )
        except (FinappError, ValueError) as exc:
            self.error = str(exc)
            return None
        self.detail = {
            "title": f"#{detail['id']} {detail['provider']} · {detail['event_type']}",
            "status": detail["status"],
            "verification": detail["verification"] or "",
            "client": detail["client"] or "",
            "timestamp": detail["timestamp"],
            "headers": json.dumps(detail["headers"], indent=2, ensure_ascii=False),
            "body": detail["body"] or f"(not stored; sha256 {detail['body_sha256']})",
            "error": detail["error"] or "",
        }
        return None

    @rx.event
    def set_detail_open(self, value: bool) -> None:
        if not value:
            self.detail = {}
