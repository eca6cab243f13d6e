"""Upload in the browser, see the file processed live, the project report with its chart, and
delete with confirmation."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveApp, sign_in

STATEMENT = (
    "Date;Description;Category;Amount;Balance\n"
    "02.01.2026;Salary;Income;2.500,00;2.500,00\n"
    "05.01.2026;Rent;Housing;-900,00;1.600,00\n"
    "20.01.2026;Café;Food;-3,50;1.596,50\n"
    "01.02.2026;Salary;Income;2.500,00;4.096,50\n"
    "13.02.2026;Groceries;Food;-120,25;3.976,25\n"
)


def test_upload_shows_processed_file_and_project_report_with_chart(
    live_app: LiveApp, page: Page, tmp_path: Path
):
    statement = tmp_path / "kontoauszug.csv"
    statement.write_text(STATEMENT, encoding="cp1252")
    executable = tmp_path / "invoice.xlsx"
    executable.write_bytes(b"MZ\x90\x00" + b"\x00" * 64)

    sign_in(page, live_app)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.click("#nav-files")
    page.fill("#upload-project", "e2e-project")
    page.set_input_files("#file-upload input[type=file]", [str(statement), str(executable)])
    expect(page.get_by_text("kontoauszug.csv")).to_be_visible()
    page.click("#upload-button")

    results = page.locator("#upload-results")
    expect(results).to_contain_text("stored")
    expect(results).to_contain_text("Windows executable")
    row = page.locator("#files-table tr", has_text="kontoauszug.csv")
    # Extraction runs in the background; the table updates by itself.
    expect(row).to_contain_text("extracted", timeout=30_000)
    expect(row).to_contain_text("5 transactions")

    row.get_by_role("link", name="e2e-project").click()
    expect(page.locator("#report-validity")).to_have_text("Valid")
    expect(page.locator("#report-transactions")).to_have_text("5")
    expect(page.locator("#totals-table")).to_contain_text("3,976.25")  # net, exact
    expect(page.locator("#monthly-chart .recharts-bar-rectangle").first).to_be_visible()
    expect(page.locator("#transactions-table")).to_contain_text("Café")
    page.fill("#tx-search", "salary")
    expect(page.locator("#transactions-table tbody tr")).to_have_count(2)

    page.click("#nav-files")
    row = page.locator("#files-table tr", has_text="kontoauszug.csv")
    row.get_by_role("button", name="Delete file").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("kontoauszug.csv")
    dialog.get_by_role("button", name="Delete file").click()
    expect(page.locator("#files-table tr", has_text="kontoauszug.csv")).to_have_count(0)
    expect(page.get_by_text(re.compile("Deleted kontoauszug.csv"))).to_be_visible()
