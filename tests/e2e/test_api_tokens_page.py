"""API tokens made in the UI work against the API, and revoking one (after confirming) stops it."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in


def test_token_created_in_ui_authenticates_until_revoked(live_app: LiveApp, page: Page):
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-settings")
    page.fill("#token_name", "e2e-export")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#created-token").inner_text()
    assert re.fullmatch(r"fa_[\w-]{40,}", token)

    me = httpx.get(f"{live_app.base_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() == {"username": live_app.username}

    page.get_by_role("button", name="Done").click()
    expect(page.locator("#created-token")).to_have_count(0)
    row = page.locator("#tokens-table tr", has_text="e2e-export")
    expect(row).to_contain_text("active")
    # The API call above shows up as "Last used" (instead of "Never") once the list reloads.
    page.reload()
    expect(row).to_contain_text("active")
    expect(row).not_to_contain_text("Never")
    row.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("e2e-export")
    dialog.get_by_role("button", name="Revoke token").click()
    expect(row).to_contain_text("revoked")

    again = httpx.get(
        f"{live_app.base_url}/api/auth/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status_code == 401
