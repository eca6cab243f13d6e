"""PDF statements through pdfplumber: table rows below a recognised header, across pages.

Ruled tables come from the lines strategy; a page where that finds nothing is retried with the
text strategy (unruled layouts). Rows are numbered 1, 2, 3… across all tables; the page goes in
error messages. Scanned PDFs (images only) have no text and fail: there is no OCR.
"""

from __future__ import annotations

import io
import logging

import pdfplumber
import polars as pl

from finapp.services.extraction.columns import HeaderMatch, match_header
from finapp.services.extraction.result import ExtractionResult, failed
from finapp.services.extraction.tabular import (
    ROW,
    WHERE,
    cell_column,
    extract_table,
    prepare_table,
)

logger = logging.getLogger(__name__)

NO_TABLE = "no transaction table found in the PDF (scanned PDFs need OCR, not supported)"
_TEXT_STRATEGY = {"vertical_strategy": "text", "horizontal_strategy": "text"}
# Statements run to dozens of pages; beyond this the file is not a statement we can help with.
MAX_PAGES = 500


def read_pdf(data: bytes, *, default_currency: str) -> ExtractionResult:
    """Transactions from the tables of a text PDF."""
    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except Exception as exc:
        logger.info("pdfplumber could not open a file: %s", exc)
        return failed(f"the PDF could not be opened ({_reason(exc)})")

    warnings: list[str] = []
    header: HeaderMatch | None = None
    rows: list[list[str]] = []
    pages: list[int] = []
    with pdf:
        if len(pdf.pages) > MAX_PAGES:
            warnings.append(f"only the first {MAX_PAGES} of {len(pdf.pages)} pages were read")
        for number, page in enumerate(pdf.pages[:MAX_PAGES], start=1):
            try:
                tables = page.extract_tables() or page.extract_tables(_TEXT_STRATEGY)
            except Exception as exc:
                logger.info("pdfplumber failed on page %d: %s", number, exc)
                warnings.append(f"page {number} could not be read ({_reason(exc)})")
                continue
            for table in tables:
                for raw in table:
                    cells = [_clean(c) for c in raw]
                    match = match_header(cells)
                    if match is not None:
                        # A header, or one repeated on a later page: it sets the layout of the
                        # rows below it.
                        header = match
                        continue
                    if not any(cells):
                        continue
                    if header is not None and len(cells) == len(header.names):
                        rows.append(cells)
                        pages.append(number)
    if header is None:
        return failed(NO_TABLE, warnings=warnings)

    width = len(header.names)
    frame = pl.DataFrame(
        {cell_column(i): [r[i] for r in rows] for i in range(width)},
        schema={cell_column(i): pl.String for i in range(width)},
    ).with_columns(
        pl.int_range(1, len(rows) + 1, dtype=pl.Int64).alias(ROW),
        pl.Series(WHERE, [f"page {p}" for p in pages], dtype=pl.String),
    )
    frame = prepare_table(frame, header)
    return extract_table(frame, header, default_currency=default_currency, warnings=warnings)


def _clean(cell: str | None) -> str:
    """A table cell on one line (wrapped descriptions arrive with newlines)."""
    return " ".join((cell or "").split())


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
