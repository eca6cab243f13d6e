"""Sign-in, sign-out and the login wall, in a real browser against the production build."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.conftest import LiveApp, sign_in

SESSION_COOKIE = "finapp_session"


def test_unauthenticated_visit_to_protected_page_lands_on_login(live_app: LiveApp, page: Page):
    page.goto(f"{live_app.base_url}/settings")
    expect(page).to_have_url(re.compile(r"/login/?\?next=/settings$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("API tokens")).to_have_count(0)


def test_sign_in_shows_dashboard_and_sign_out_ends_the_session(
    live_app: LiveApp, page: Page, context: BrowserContext
):
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#current-user")).to_have_text(live_app.username)
    expect(page.locator("#system-status")).to_have_text("Healthy")
    token = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    assert token.startswith("fs_")

    page.click("#logout-button")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{live_app.base_url}/")
    expect(page).to_have_url(re.compile(r"/login"))

    # The old token put back into the browser must not work: logout ended it on the server.
    context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_app.base_url}])
    page.goto(f"{live_app.base_url}/settings")
    expect(page).to_have_url(re.compile(r"/login"))


def test_sign_in_returns_to_the_page_first_asked_for(live_app: LiveApp, page: Page):
    page.goto(f"{live_app.base_url}/webhooks")
    expect(page).to_have_url(re.compile(r"/login"))
    page.fill("#username", live_app.username)
    page.fill("#password", live_app.password)
    page.click("#login-submit")
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/webhooks"))


def test_wrong_password_is_refused_with_a_clear_message(live_app: LiveApp, page: Page):
    sign_in(page, live_app, password="not-the-password")
    expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    expect(page).to_have_url(re.compile(r"/login"))


def test_repeated_failures_are_throttled_and_say_how_long_to_wait(live_app: LiveApp, page: Page):
    page.goto(f"{live_app.base_url}/login")
    error = page.locator("#login-error")
    messages = []
    for _ in range(8):  # a username of its own, so the admin account is not locked for others
        page.fill("#username", "mallory")
        page.fill("#password", "guess-guess-guess")
        page.click("#login-submit")
        expect(error).to_be_visible()
        expect(page.locator("#login-submit")).to_be_enabled()
        messages.append(error.inner_text())
        if "Try again" in messages[-1]:
            break
    assert "Wrong username or password." in messages[0]
    assert re.search(r"Try again in \d+ minutes", messages[-1]), messages


def test_navigation_reaches_every_section(live_app: LiveApp, page: Page):
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for nav_id, heading in (
        ("nav-batch-jobs", "Batch jobs"),
        ("nav-email", "Email"),
        ("nav-webhooks", "Webhooks"),
        ("nav-files", "Files"),
        ("nav-settings", "Settings"),
        ("nav-dashboard", "Dashboard"),
    ):
        page.click(f"#{nav_id}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def test_api_health_and_docs_share_the_port(live_app: LiveApp):
    assert httpx.get(f"{live_app.base_url}/api/health").json()["database"] == "ok"
    assert httpx.get(f"{live_app.base_url}/docs").status_code == 200
    assert httpx.get(f"{live_app.base_url}/api/auth/me").status_code == 401
