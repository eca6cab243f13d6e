"""Batch jobs in the browser: create with a preset, see the description and next runs, run it
now and watch the result arrive without reloading; invalid schedules are explained inline."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in

CSV = "Date,Description,Amount\n2026-01-02,Salary,2500.00\n2026-01-03,Coffee,-3.50\n"


def _upload_statement(app: LiveApp, project: str) -> None:
    token = httpx.post(
        f"{app.base_url}/api/auth/token",
        data={"username": app.username, "password": app.password},
    ).json()["access_token"]
    response = httpx.post(
        f"{app.base_url}/api/files",
        headers={"Authorization": f"Bearer {token}"},
        data={"project_id": project},
        files={"file": ("jobs.csv", CSV.encode(), "text/csv")},
    )
    assert response.status_code == 201, response.text


def test_create_job_with_preset_run_now_and_see_result_live(live_app: LiveApp, page: Page):
    _upload_statement(live_app, "jobs-e2e")
    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-batch-jobs")
    page.click("#new-job")
    page.fill("#job-id-input", "weekday-jobs-e2e")
    page.fill("#job-project-input", "jobs-e2e")

    page.click("#schedule-preset")
    page.get_by_role("option", name="Weekdays at 9:00").click()
    expect(page.locator("#schedule-input")).to_have_value("0 9 * * 1-5")
    expect(page.locator("#schedule-description")).to_have_text("At 09:00 on Monday through Friday")
    next_runs = page.locator("#schedule-next-runs > *")
    expect(next_runs).to_have_count(5)
    for text in next_runs.all_inner_texts():
        assert text.split()[0] in {"Mon", "Tue", "Wed", "Thu", "Fri"}, text

    page.fill("#schedule-input", "0 25 * * *")  # hour 25
    expect(page.locator("#schedule-error")).to_contain_text("hour field '25'")
    expect(page.locator("#save-job")).to_be_disabled()
    page.fill("#schedule-input", "0 9 * * 1-5")
    expect(page.locator("#schedule-description")).to_be_visible()
    page.click("#save-job")

    row = page.locator("#jobs-table tr", has_text="weekday-jobs-e2e")
    expect(row).to_contain_text("At 09:00 on Monday through Friday")
    expect(row.locator(".job-status")).to_have_text("scheduled")
    expect(row).to_contain_text("Never run")

    row.get_by_role("button", name="Run now").click()
    # Pushed by the page's watcher: no reload.
    expect(row.locator(".last-result")).to_contain_text(
        "1 file · 2 transactions · valid", timeout=20_000
    )
    expect(row).to_contain_text("completed")

    row.get_by_role("button", name="Run history").click()
    history = page.locator("#run-history")
    expect(history).to_contain_text("manual")
    expect(history).to_contain_text("completed")
