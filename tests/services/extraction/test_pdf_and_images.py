"""PDF tables (fpdf2-made statements), prose-only PDFs, images and the dispatcher itself."""

from __future__ import annotations

import datetime as dt
import zlib

import polars as pl
import pytest
from fpdf import FPDF

from finapp.services.extraction import ROW_SCHEMA, extract_transactions

HEADER = ("Date", "Description", "Amount", "Balance")


def statement_pdf(pages: list[list[tuple[str, ...]]], *, repeat_header: bool = True) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for number, rows in enumerate(pages):
        pdf.add_page()
        pdf.cell(text=f"ACME Bank - statement page {number + 1}")
        pdf.ln(12)
        with pdf.table(borders_layout="ALL", first_row_as_headings=False) as table:
            if repeat_header or number == 0:
                table.row(HEADER)
            for row in rows:
                table.row(row)
    return bytes(pdf.output())


def test_ruled_statement_table_across_pages() -> None:
    data = statement_pdf(
        [
            [
                ("05/01/2024", "Coffee shop", "-3.50", "996.50"),
                ("31/01/2024", "Salary", "2,500.00", "3,496.50"),
            ],
            [
                ("01/02/2024", "Rent", "(950.00)", "2,546.50"),
                ("02/02/2024", "Broken", "1.2.3", ""),
            ],
        ]
    )
    result = extract_transactions("pdf", data)
    assert result.failure is None
    rows = result.rows
    assert rows.get_column("row").to_list() == [1, 2, 3]
    assert rows.get_column("date").to_list() == [
        dt.date(2024, 1, 5), dt.date(2024, 1, 31), dt.date(2024, 2, 1),
    ]  # fmt: skip
    assert rows.get_column("amount_minor").to_list() == [-350, 250000, -95000]
    assert rows.get_column("balance_minor").to_list() == [99650, 349650, 254650]
    assert rows.get_column("description").to_list() == ["Coffee shop", "Salary", "Rent"]
    assert [(e.row, e.message) for e in result.errors] == [
        (4, "page 2: unparseable amount '1.2.3'")
    ]


def test_continuation_table_without_a_repeated_header() -> None:
    data = statement_pdf(
        [[("2024-01-05", "A", "1.00", "")], [("2024-01-06", "B", "2.00", "")]],
        repeat_header=False,
    )
    result = extract_transactions("pdf", data)
    assert result.rows.get_column("amount_minor").to_list() == [100, 200]


def test_unruled_table_is_read_with_the_text_strategy() -> None:
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    pdf.cell(text="ACME Bank statement for January")
    pdf.ln(12)
    with pdf.table(borders_layout="NONE", first_row_as_headings=False) as table:
        table.row(HEADER)
        table.row(("05/01/2024", "Coffee shop", "-3.50", "996.50"))
        table.row(("31/01/2024", "Salary payment", "2,500.00", "3,496.50"))
    result = extract_transactions("pdf", bytes(pdf.output()))
    assert result.failure is None and result.errors == []
    assert result.rows.get_column("amount_minor").to_list() == [-350, 250000]
    assert result.rows.get_column("description").to_list() == ["Coffee shop", "Salary payment"]


def test_prose_only_pdf_fails() -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(w=0, text="Dear customer, your statement is attached separately. " * 5)
    result = extract_transactions("pdf", bytes(pdf.output()))
    assert result.failure == (
        "no transaction table found in the PDF (scanned PDFs need OCR, not supported)"
    )
    assert result.rows.height == 0


def test_corrupt_pdf_fails() -> None:
    result = extract_transactions("pdf", b"%PDF-1.7\n" + b"\x00garbage" * 50)
    assert result.failure is not None and result.rows.height == 0


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("kind", "data"), [("png", png_bytes()), ("jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 64)]
)
def test_images_are_not_extractable(kind: str, data: bytes) -> None:
    result = extract_transactions(kind, data)
    assert result.extractable is False
    assert result.failure is None and result.errors == []
    assert result.rows.height == 0 and result.rows.schema == pl.Schema(ROW_SCHEMA)


def test_unknown_kind_and_bad_default_currency_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown file kind"):
        extract_transactions("docx", b"")
    with pytest.raises(ValueError, match="ISO 4217"):
        extract_transactions("csv", b"", default_currency="euro")


def test_a_reader_crash_becomes_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from finapp.services.extraction import csv_reader

    def boom(data: bytes, *, default_currency: str) -> None:
        raise RuntimeError("reader bug")

    monkeypatch.setattr(csv_reader, "read_csv", boom)
    result = extract_transactions("csv", b"Date,Amount\n2024-01-01,1\n")
    assert result.failure == "the file could not be read (RuntimeError: reader bug)"
