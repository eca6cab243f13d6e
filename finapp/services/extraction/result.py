"""What every reader returns: typed transaction rows, per-row errors and whole-file failures."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

ROW_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "date": pl.Date(),
    "amount_minor": pl.Int64(),
    "currency": pl.String(),
    "description": pl.String(),
    "category": pl.String(),
    "account": pl.String(),
    "balance_minor": pl.Int64(),  # null when the file has no balance
    "external_id": pl.String(),  # null unless the file carries an id (OFX FITID)
}


@dataclass
class RowError:
    """One row that could not be read; `row` is numbered the way the user sees the file."""

    row: int
    message: str


@dataclass
class ExtractionResult:
    """Transactions read from one file, plus everything that went wrong while reading them."""

    rows: pl.DataFrame
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extractable: bool = True
    failure: str | None = None


def empty_rows() -> pl.DataFrame:
    """A frame with ROW_SCHEMA and no rows."""
    return pl.DataFrame(schema=ROW_SCHEMA)


def failed(reason: str, *, warnings: list[str] | None = None) -> ExtractionResult:
    """A whole-file failure: no rows, the reason for the user."""
    return ExtractionResult(rows=empty_rows(), warnings=list(warnings or []), failure=reason)
