"""The email page in the browser: a mailbox on the private Dovecot, Check Now, and the new
download appearing (file and project) with the mailbox marked connected, without a reload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in
from tests.imap_server import (
    DovecotServer,
    dovecot,  # noqa: F401 - fixture
    mailbox_server,  # noqa: F401 - fixture
    make_message,
)

MAILBOX = "e2e-dovecot"
STATEMENT = (
    "Date,Description,Amount\n"
    "2026-01-02,E2E salary,2500.00\n"
    "2026-01-03,E2E coffee,-3.50\n"
    "2026-01-04,E2E rent,-900.00\n"
)


def _headers(app: LiveApp) -> dict[str, str]:
    response = httpx.post(
        f"{app.base_url}/api/auth/token",
        data={"username": app.username, "password": app.password},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def dovecot_mailbox(
    live_app: LiveApp,
    mailbox_server: DovecotServer,  # noqa: F811
) -> Iterator[dict[str, Any]]:
    """A mailbox on the test Dovecot added through the REST API; removed afterwards so the
    rest of the session's app has no mailbox polling."""
    headers = _headers(live_app)
    response = httpx.post(
        f"{live_app.base_url}/api/email/mailboxes",
        headers=headers,
        json={
            "name": MAILBOX,
            "address": mailbox_server.user,
            "password": mailbox_server.password,
            "imap_server": "127.0.0.1",
            "imap_port": mailbox_server.port,
            "security": "none",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert "password" not in created
    try:
        yield created
    finally:
        httpx.delete(
            f"{live_app.base_url}/api/email/mailboxes/{created['id']}", headers=_headers(live_app)
        )


def test_check_now_shows_the_new_download_and_the_mailbox_connected(
    live_app: LiveApp,
    page: Page,
    mailbox_server: DovecotServer,  # noqa: F811
    dovecot_mailbox: dict[str, Any],
) -> None:
    mailbox_server.append(
        make_message(
            sender="bank@example.com",
            to="finance@example.com",
            subject="[E2E_1] Statement",
            body="Your statement is attached.",
            attachments=[("e2e-statement.csv", STATEMENT.encode(), "text/csv")],
        )
    )

    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-email")
    row = page.locator("#mailboxes-table tr", has_text=MAILBOX)
    expect(row).to_contain_text(f"127.0.0.1:{mailbox_server.port} (none)")
    expect(row.locator(".mailbox-status")).to_have_text("not checked yet")
    expect(page.locator("#email-downloads")).to_have_count(0)
    page.evaluate("window.__finappNoReload = true")

    page.click("#check-now")

    downloads = page.locator("#email-downloads")
    expect(downloads).to_contain_text("e2e-statement.csv", timeout=30_000)
    download = downloads.locator("tr", has_text="e2e-statement.csv")
    expect(download).to_contain_text("E2E_1")
    expect(download).to_contain_text("bank@example.com")
    expect(download).to_contain_text("[E2E_1] Statement")
    expect(row.locator(".mailbox-status")).to_have_text("connected")
    expect(page.locator("#check-message")).to_contain_text("1 new message, 1 file stored")
    assert page.evaluate("window.__finappNoReload") is True  # same document: no reload

    # what the page shows is what the API holds
    headers = _headers(live_app)
    [mail] = httpx.get(f"{live_app.base_url}/api/email/messages", headers=headers).json()
    assert (mail["status"], mail["project_id"], mail["subject"]) == (
        "processed",
        "E2E_1",
        "[E2E_1] Statement",
    )
    [file_id] = mail["file_ids"]
    # extraction runs on the app's queue right after the check: give it a moment
    deadline = time.monotonic() + 30
    while True:
        record = httpx.get(f"{live_app.base_url}/api/files/{file_id}", headers=headers).json()
        if record["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (record["project_id"], record["status"]) == ("E2E_1", "extracted")
