"""Dedupe keys, balance continuity and the bulk insert that re-imports nothing twice."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlmodel import Session, col, delete, func, select

from finapp.models import FileContent, Transaction
from finapp.services import files
from finapp.services.extraction.result import ROW_SCHEMA
from finapp.services.transactions import balance_breaks, extract_file, with_dedupe_keys


def frame(rows: list[dict]) -> pl.DataFrame:
    base = {
        "account": "",
        "currency": "EUR",
        "category": "",
        "balance_minor": None,
        "external_id": None,
        "description": "",
    }
    filled = [{**base, **r, "row": r.get("row", i + 2)} for i, r in enumerate(rows)]
    return pl.DataFrame(filled, schema=ROW_SCHEMA)


def test_identical_lines_in_one_file_get_different_keys_but_repeat_across_imports() -> None:
    rows = [
        {"date": date(2026, 1, 2), "amount_minor": -350, "description": "Coffee"},
        {"date": date(2026, 1, 2), "amount_minor": -350, "description": "Coffee"},
    ]
    first = with_dedupe_keys(frame(rows))["dedupe_key"].to_list()
    assert first[0] != first[1]  # two real coffees that day
    again = with_dedupe_keys(frame(rows))["dedupe_key"].to_list()
    assert again == first  # the same statement again: the same keys


def test_description_spacing_and_case_do_not_change_the_key() -> None:
    a = frame([{"date": date(2026, 1, 2), "amount_minor": -350, "description": "CARD  Coffee "}])
    b = frame([{"date": date(2026, 1, 2), "amount_minor": -350, "description": "card coffee"}])
    assert with_dedupe_keys(a)["dedupe_key"][0] == with_dedupe_keys(b)["dedupe_key"][0]


def test_amount_account_and_date_change_the_key() -> None:
    base = {"date": date(2026, 1, 2), "amount_minor": -350, "description": "Coffee"}
    keys = {
        with_dedupe_keys(frame([row]))["dedupe_key"][0]
        for row in (
            base,
            {**base, "amount_minor": -351},
            {**base, "account": "DE01"},
            {**base, "date": date(2026, 1, 3)},
        )
    }
    assert len(keys) == 4


def test_bank_ids_decide_the_key_when_present() -> None:
    a = frame([{"date": date(2026, 1, 2), "amount_minor": -350, "external_id": "FIT1"}])
    b = frame([{"date": date(2026, 1, 5), "amount_minor": -999, "external_id": "FIT1"}])
    assert with_dedupe_keys(a)["dedupe_key"][0] == with_dedupe_keys(b)["dedupe_key"][0]


def _balances(amounts: list[int], balances: list[int]) -> pl.DataFrame:
    return frame(
        [
            {"date": date(2026, 1, 1 + i), "amount_minor": a, "balance_minor": b}
            for i, (a, b) in enumerate(zip(amounts, balances, strict=True))
        ]
    )


def test_continuous_balance_has_no_break_oldest_or_newest_first() -> None:
    assert balance_breaks(_balances([1000, -300, -200], [1000, 700, 500])) == []
    assert balance_breaks(_balances([-200, -300, 1000], [500, 700, 1000])) == []


def test_first_balance_break_is_reported_at_its_row() -> None:
    breaks = balance_breaks(_balances([1000, -300, -200, -100], [1000, 700, 450, 350]))
    assert len(breaks) == 1
    assert breaks[0].row == 4  # header is row 1, so the third data row is row 4
    assert (breaks[0].expected_minor, breaks[0].found_minor) == (500, 450)


def test_rows_without_balance_are_not_checked() -> None:
    assert balance_breaks(_balances([1000, -300], [None, None])) == []  # type: ignore[list-item]


CSV = (
    b"Date,Description,Amount\n"
    b"2026-01-02,Salary,2500.00\n"
    b"2026-01-03,Coffee,-3.50\n"
    b"2026-01-03,Coffee,-3.50\n"
)


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Transaction)).one()


def test_extracting_stores_each_line_and_a_reimport_adds_nothing(session: Session) -> None:
    first = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="p", source="upload"
    ).file
    extract_file(session=session, record=first)
    assert first.status == "extracted"
    assert first.transaction_count == 3 and _count(session) == 3
    # Same lines, different bytes (a trailing newline): a new file, but no new transactions.
    second = files.store_file(
        session=session, data=CSV + b"\n", filename="b.csv", project_id="p", source="email"
    ).file
    extract_file(session=session, record=second)
    assert second.status == "extracted"
    assert second.transaction_count == 0
    assert second.already_imported_count == 3
    assert _count(session) == 3


def test_unreadable_content_marks_the_file_failed_without_raising(session: Session) -> None:
    record = files.store_file(
        session=session,
        data=b"just,some\nwords,here\n",
        filename="x.csv",
        project_id="p",
        source="upload",
    ).file
    extract_file(session=session, record=record)
    assert record.status == "failed"
    assert record.status_detail


def test_a_crash_while_reading_marks_the_file_failed(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = files.store_file(
        session=session, data=CSV, filename="a.csv", project_id="p", source="upload"
    ).file
    session.exec(delete(FileContent).where(col(FileContent.sha256) == record.sha256))  # lost
    extract_file(session=session, record=record)
    assert record.status == "failed"
    assert "Could not read the file" in record.status_detail
