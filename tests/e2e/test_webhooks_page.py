"""Webhooks page: provider cards with their URL, and events appearing live as they arrive."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in


def test_event_appears_live_with_its_detail(live_app: LiveApp, page: Page):
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-webhooks")
    cards = page.locator(".provider-card")
    expect(cards).to_have_count(3)
    dropbox = cards.filter(has_text="Dropbox")
    # The live app runs without provider secrets: nothing is accepted, and the page says why.
    expect(dropbox).to_contain_text("not configured")
    expect(dropbox).to_contain_text("/api/webhooks/dropbox")
    expect(dropbox).to_contain_text("DROPBOX_WEBHOOK_SECRET")

    # Other tests' events may be listed already: count them, to know when this one is in.
    token = httpx.post(
        f"{live_app.base_url}/api/auth/token",
        data={"username": live_app.username, "password": live_app.password},
    ).json()["access_token"]
    before = httpx.get(
        f"{live_app.base_url}/api/webhooks/events",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {token}"},
    ).headers["x-total-count"]
    response = httpx.post(
        f"{live_app.base_url}/api/webhooks/dropbox",
        content=b'{"list_folder": {"accounts": ["dbid:live-e2e"]}}',
        headers={"X-Dropbox-Signature": "0" * 64, "Content-Type": "application/json"},
    )
    assert response.status_code == 403

    # Pushed by the page's watcher: no reload. Newest first, so this event is the first row.
    expect(page.get_by_text(re.compile(rf"of {int(before) + 1}$"))).to_be_visible(timeout=15_000)
    row = page.locator("#webhook-events tr", has_text="dropbox").first
    expect(row).to_contain_text("rejected")
    row.click()
    detail = page.locator("#event-detail")
    expect(detail).to_be_visible()
    expect(detail).to_contain_text("x-dropbox-signature")
    expect(detail).not_to_contain_text("0" * 64)  # the presented signature is never stored
