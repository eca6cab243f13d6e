"""Transactions out of uploaded statement files: pure functions from bytes to a result.

`extract_transactions(kind, data)` dispatches on the kind the upload check already sniffed and
never raises for bad content: unreadable files come back with `failure` set, unreadable rows as
`errors`, guesses the user should know about as `warnings`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from finapp.services.extraction.result import (
    ROW_SCHEMA,
    ExtractionResult,
    RowError,
    empty_rows,
    failed,
)

__all__ = ["ROW_SCHEMA", "ExtractionResult", "RowError", "extract_transactions"]

logger = logging.getLogger(__name__)

KINDS = ("csv", "xlsx", "xls", "ofx", "pdf", "png", "jpeg")
_CODE = re.compile(r"^[A-Z]{3}$")


def extract_transactions(
    kind: str, data: bytes, *, default_currency: str = "EUR"
) -> ExtractionResult:
    """Read every transaction in a file of the given kind.

    Images are not read (no OCR): they come back with `extractable=False` and no rows.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown file kind {kind!r} (expected one of {', '.join(KINDS)})")
    currency = default_currency.strip().upper()
    if not _CODE.match(currency):
        raise ValueError(f"default_currency must be an ISO 4217 code, got {default_currency!r}")
    if kind in ("png", "jpeg"):
        return ExtractionResult(rows=empty_rows(), extractable=False)
    # Each reader is imported on first use: ofxtools and pdfplumber take a while to import.
    reader: Callable[..., ExtractionResult]
    if kind == "csv":
        from finapp.services.extraction.csv_reader import read_csv as reader
    elif kind in ("xlsx", "xls"):
        from finapp.services.extraction.excel_reader import read_excel as reader
    elif kind == "ofx":
        from finapp.services.extraction.ofx_reader import read_ofx as reader
    else:
        from finapp.services.extraction.pdf_reader import read_pdf as reader
    try:
        return reader(data, default_currency=currency)
    except Exception as exc:
        # A reader bug or a library choking on hostile input must not take the upload down;
        # the user gets a failure and the traceback goes to the log.
        logger.exception("extraction of a %s file failed", kind)
        return failed(f"the file could not be read ({type(exc).__name__}: {exc})")
