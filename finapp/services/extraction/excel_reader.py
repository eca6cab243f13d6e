"""Excel workbooks (.xlsx and .xls) through python-calamine.

Typed cells keep their meaning: a date cell is a date whatever the file's text dates look like,
and a number cell is converted exactly from its shortest float representation. The first sheet
with a transaction header is read.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from decimal import Decimal

import polars as pl
from python_calamine import CalamineError, CalamineWorkbook

from finapp.services.extraction.columns import (
    HEADER_SCAN_ROWS,
    find_header,
    missing_columns_message,
)
from finapp.services.extraction.result import ExtractionResult, failed
from finapp.services.extraction.tabular import (
    NATIVE_DATE,
    NATIVE_NUMBER,
    ROW,
    cell_column,
    extract_table,
    prepare_table,
)

logger = logging.getLogger(__name__)

Cell = str | float | int | bool | dt.date | dt.datetime | dt.time | dt.timedelta | None


def read_excel(data: bytes, *, default_currency: str) -> ExtractionResult:
    """Transactions from the first sheet of a workbook that has a transaction header."""
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except CalamineError as exc:
        return failed(f"the workbook could not be opened ({_reason(exc)})")
    except Exception as exc:
        # calamine raises plain errors for files that are not workbooks at all.
        logger.info("calamine refused a workbook: %s", exc)
        return failed(f"the workbook could not be opened ({_reason(exc)})")

    first_message: str | None = None
    for name in workbook.sheet_names:
        try:
            sheet = workbook.get_sheet_by_name(name)
            # Keep leading empty rows so that list positions are the row numbers Excel shows.
            grid: list[list[Cell]] = sheet.to_python(skip_empty_area=False)
        except Exception as exc:
            logger.info("calamine could not read sheet %r: %s", name, exc)
            first_message = first_message or f"sheet '{name}' could not be read ({_reason(exc)})"
            continue
        top = [[_display(c) for c in row] for row in grid[:HEADER_SCAN_ROWS]]
        header = find_header(top)
        if header is None:
            if first_message is None and any(any(c.strip() for c in r) for r in top):
                first_message = f"sheet '{name}': {missing_columns_message(top)}"
            continue
        body = grid[header.index + 1 :]
        width = len(header.names)
        columns = {
            cell_column(i): [_cell_text(row[i]) if i < len(row) else None for row in body]
            for i in range(width)
        }
        frame = pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
        first_row = header.index + 2  # 0-based header position -> 1-based row after it
        frame = frame.with_columns(
            pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias(ROW)
        )
        frame = prepare_table(frame, header)
        warnings = []
        if len(workbook.sheet_names) > 1:
            warnings.append(f"read sheet '{name}' of {len(workbook.sheet_names)}")
        return extract_table(
            frame, header, default_currency=default_currency, native=True, warnings=warnings
        )
    return failed(first_message or "the workbook has no sheet with data")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _display(value: Cell) -> str:
    """A cell as text, for recognising the header."""
    return _cell_text(value, marked=False) or ""


def _cell_text(value: Cell, *, marked: bool = True) -> str | None:
    """A cell as the string the shared pipeline reads; typed cells carry a marker."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        # The shortest repr of the float is what Excel displays; Decimal keeps it exact.
        text = format(Decimal(str(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return (NATIVE_NUMBER + text) if marked else text
    if isinstance(value, dt.datetime):
        return (NATIVE_DATE + value.date().isoformat()) if marked else value.isoformat(" ")
    if isinstance(value, dt.date):
        return (NATIVE_DATE + value.isoformat()) if marked else value.isoformat()
    return str(value)
