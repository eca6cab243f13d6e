"""Change-password form: refuses bad input with a reason, and a changed password is the one that
signs in afterwards."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in

NEW_PASSWORD = "another-Long-passphrase-77"


def _change(page: Page, current: str, new: str, confirm: str | None = None) -> None:
    page.fill("#current_password", current)
    page.fill("#new_password", new)
    page.fill("#confirm_password", confirm if confirm is not None else new)
    page.get_by_role("button", name="Change password").click()


def test_change_password_form(live_app: LiveApp, page: Page):
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-settings")
    alert = page.get_by_role("alert")

    _change(page, live_app.password, NEW_PASSWORD, confirm="something-else-entirely")
    expect(alert).to_contain_text("do not match")
    _change(page, "wrong-current-password", NEW_PASSWORD)
    expect(alert).to_contain_text("current password is wrong")
    _change(page, live_app.password, "short")
    expect(alert).to_contain_text("at least 12 characters")

    _change(page, live_app.password, NEW_PASSWORD)
    expect(page.get_by_text("Password changed")).to_be_visible()
    page.click("#logout-button")

    sign_in(page, live_app)  # the old password no longer works
    expect(page.locator("#login-error")).to_contain_text("Wrong username or password")
    sign_in(page, live_app, password=NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # Put the shared app's password back for the tests that run after this one.
    page.click("#nav-settings")
    _change(page, NEW_PASSWORD, live_app.password)
    expect(page.get_by_text("Password changed")).to_be_visible()
