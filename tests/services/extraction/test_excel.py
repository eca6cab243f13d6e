"""Excel extraction: typed cells from .xlsx (openpyxl) and .xls (xlwt), corrupt workbooks."""

from __future__ import annotations

import datetime as dt
import io
import os

import openpyxl
import pytest
import xlwt

from finapp.services.extraction import extract_transactions


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_with_real_dates_numbers_and_a_preamble() -> None:
    data = xlsx(
        {
            "Statement": [
                ["ACME Bank statement"],
                [],
                ["Booking date", "Description", "Category", "Amount", "Balance"],
                [dt.date(2024, 1, 5), "Coffee", "Food", -3.5, 996.5],
                [dt.datetime(2024, 1, 31, 14, 30), "Salary", "Income", 2500, 3496.5],
                [dt.date(2024, 2, 1), "Float noise", "", 0.1 + 0.2, None],
                [dt.date(2024, 2, 2), "Big", "", -1234567.89, None],
                ["not a date", "Bad", "", 1, None],
                [dt.date(2024, 2, 3), "Bad amount", "", "twelve", None],
            ]
        }
    )
    result = extract_transactions("xlsx", data)
    assert result.failure is None
    rows = result.rows
    assert rows.get_column("row").to_list() == [4, 5, 6, 7]
    assert rows.get_column("date").to_list() == [
        dt.date(2024, 1, 5), dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 2),
    ]  # fmt: skip
    assert rows.get_column("amount_minor").to_list() == [-350, 250000, 30, -123456789]
    assert rows.get_column("balance_minor").to_list() == [99650, 349650, None, None]
    assert rows.get_column("category").to_list() == ["Food", "Income", "", ""]
    assert {e.row: e.message for e in result.errors} == {
        8: "unparseable date 'not a date'",
        9: "unparseable amount 'twelve'",
    }


def test_native_numbers_are_rounded_half_even_to_the_currency() -> None:
    data = xlsx(
        {
            "S": [
                ["Date", "Description", "Amount", "Currency"],
                [dt.date(2024, 1, 1), "half to even, down", 0.125, "EUR"],
                [dt.date(2024, 1, 2), "half to even, up", 0.135, "EUR"],
                [dt.date(2024, 1, 3), "yen", 1200.0, "JPY"],
                [dt.date(2024, 1, 4), "dinar", -1.2345, "KWD"],
            ]
        }
    )
    result = extract_transactions("xlsx", data)
    assert result.errors == []
    assert result.rows.get_column("amount_minor").to_list() == [12, 14, 1200, -1234]
    assert result.rows.get_column("currency").to_list() == ["EUR", "EUR", "JPY", "KWD"]


def test_text_cells_in_a_workbook_use_the_csv_rules() -> None:
    data = xlsx(
        {
            "S": [
                ["Datum", "Verwendungszweck", "Betrag"],
                ["05.01.2024", "Miete", "-1.234,56"],
                ["06.01.2024", "Bäcker", "-2,50"],
            ]
        }
    )
    result = extract_transactions("xlsx", data)
    assert result.errors == []
    assert result.rows.get_column("amount_minor").to_list() == [-123456, -250]
    assert result.rows.get_column("date").to_list() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]


def test_first_sheet_with_a_header_is_read() -> None:
    data = xlsx(
        {
            "Cover": [["Quarterly export"], ["Generated 2024-04-01"]],
            "Transactions": [
                ["Date", "Payee", "Debit", "Credit"],
                [dt.date(2024, 3, 1), "Landlord", 900, None],
                [dt.date(2024, 3, 2), "Employer", None, 3000],
            ],
        }
    )
    result = extract_transactions("xlsx", data)
    assert result.failure is None
    assert result.rows.get_column("amount_minor").to_list() == [-90000, 300000]
    assert result.rows.get_column("description").to_list() == ["Landlord", "Employer"]
    assert result.warnings == ["read sheet 'Transactions' of 2"]


def test_xls_written_by_xlwt() -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Umsätze")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    for col, name in enumerate(["Buchungstag", "Buchungstext", "Betrag", "Saldo"]):
        sheet.write(0, col, name)
    rows = [
        (dt.date(2024, 1, 5), "Bäckerei", -3.2, 996.8),
        (dt.date(2024, 1, 6), "Gehalt", 2500.0, 3496.8),
    ]
    for r, (day, text, amount, balance) in enumerate(rows, start=1):
        sheet.write(r, 0, day, date_style)
        sheet.write(r, 1, text)
        sheet.write(r, 2, amount)
        sheet.write(r, 3, balance)
    buffer = io.BytesIO()
    book.save(buffer)
    result = extract_transactions("xls", buffer.getvalue())
    assert result.failure is None and result.errors == []
    assert result.rows.get_column("date").to_list() == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]
    assert result.rows.get_column("amount_minor").to_list() == [-320, 250000]
    assert result.rows.get_column("balance_minor").to_list() == [99680, 349680]
    assert result.rows.get_column("description").to_list() == ["Bäckerei", "Gehalt"]
    assert result.rows.get_column("row").to_list() == [2, 3]


@pytest.mark.parametrize("kind", ["xlsx", "xls"])
def test_corrupt_workbook_fails_with_a_reason(kind: str) -> None:
    result = extract_transactions(kind, os.urandom(4096))
    assert result.failure is not None
    assert result.failure.startswith("the workbook could not be opened")
    assert result.rows.height == 0


def test_truncated_xlsx_fails() -> None:
    data = xlsx({"S": [["Date", "Amount"], [dt.date(2024, 1, 1), 1]]})
    result = extract_transactions("xlsx", data[: len(data) // 2])
    assert result.failure is not None and result.rows.height == 0


def test_workbook_without_a_transaction_header() -> None:
    result = extract_transactions("xlsx", xlsx({"S": [["Name", "Age"], ["Ann", 31]]}))
    assert result.failure == "sheet 'S': no date or amount column found (columns: Name, Age)"
    empty = extract_transactions("xlsx", xlsx({"S": []}))
    assert empty.failure == "the workbook has no sheet with data"
