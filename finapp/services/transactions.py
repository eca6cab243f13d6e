"""From a stored file to stored transactions: keys, balance continuity, bulk insert.

Inserts go through the DB-API `executemany` (SQLite) or one Core INSERT … ON CONFLICT DO
NOTHING (PostgreSQL): an ORM object per row costs ~20× more (see the benchmark). The unique
(project, dedupe_key) index is what makes re-imports and overlapping statements add nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Session, col, func, select

from finapp.db import utcnow
from finapp.models import StoredFile, Transaction
from finapp.services.extraction import ExtractionResult, extract_transactions
from finapp.services.files import read_content
from finapp.settings import get_settings
from finapp.wording import counted

logger = logging.getLogger(__name__)

MAX_STORED_ISSUES = 100
INSERT_CHUNK = 50_000
COLUMNS = (
    "project_id",
    "file_id",
    "row",
    "account",
    "date",
    "amount_minor",
    "currency",
    "description",
    "category",
    "balance_minor",
    "dedupe_key",
)


@dataclass(frozen=True)
class BalanceBreak:
    row: int
    account: str
    currency: str
    expected_minor: int
    found_minor: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "account": self.account,
            "currency": self.currency,
            "expected_minor": self.expected_minor,
            "found_minor": self.found_minor,
        }


def extract_file(*, session: Session, record: StoredFile) -> StoredFile:
    """Extract one pending file into transactions and set its status; never raises for bad
    content (the file is marked failed with the reason instead)."""
    try:
        data = read_content(session=session, sha256=record.sha256)
        result = extract_transactions(
            record.kind, data, default_currency=get_settings().default_currency
        )
    except Exception as exc:  # one bad file must never stop the others
        logger.exception("Extraction of file #%s crashed", record.id)
        return _mark(session, record, "failed", f"Could not read the file: {exc}")
    return store_extraction(session=session, record=record, result=result)


def store_extraction(
    *, session: Session, record: StoredFile, result: ExtractionResult
) -> StoredFile:
    """Persist an extraction result for a file (separate from reading, so it can be timed)."""
    record.error_count = len(result.errors)
    record.issues = [
        {"row": e.row, "message": e.message} for e in result.errors[:MAX_STORED_ISSUES]
    ]
    record.warnings = list(result.warnings)
    if not result.extractable:
        return _mark(session, record, "skipped", "Not extractable (no OCR yet).")
    if result.failure:
        return _mark(session, record, "failed", result.failure)

    frame = with_dedupe_keys(result.rows)
    breaks = balance_breaks(frame)
    record.balance_break = breaks[0].as_dict() if breaks else None
    insert_rows(session=session, frame=frame, project_id=record.project_id, file_id=record.id)
    stored = session.exec(
        select(func.count()).select_from(Transaction).where(Transaction.file_id == record.id)
    ).one()
    record.transaction_count = stored
    record.already_imported_count = frame.height - stored
    detail = counted(stored, "transaction")
    if record.already_imported_count:
        detail += f", {record.already_imported_count} already imported"
    if record.error_count:
        detail += f", {counted(record.error_count, 'unreadable row')}"
    return _mark(session, record, "extracted", detail)


def _mark(session: Session, record: StoredFile, status: str, detail: str) -> StoredFile:
    record.status = status
    record.status_detail = detail[:1000]
    record.extracted_at = utcnow()
    session.add(record)
    session.flush()
    return record


def with_dedupe_keys(rows: pl.DataFrame) -> pl.DataFrame:
    """Add `dedupe_key`: a signed 64-bit BLAKE2b of the bank's id when the file has one, else of
    (account, date, amount, currency, normalised description, occurrence within the file).

    The occurrence number keeps two genuinely identical lines of one statement apart while the
    same line in a re-imported or overlapping statement gets the same key. BLAKE2b rather than
    polars' hash because keys are stored and must not change between library versions.
    """
    description = (
        pl.col("description").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    )
    identity = ["account", "date", "amount_minor", "currency", "_description"]
    framed = rows.with_columns(_description=description).with_columns(
        _occurrence=pl.int_range(pl.len()).over(identity) + 1
    )
    material = framed.select(
        pl.when(pl.col("external_id").is_not_null() & (pl.col("external_id") != ""))
        .then(
            pl.concat_str(
                [pl.lit("id"), pl.col("account"), pl.col("external_id")], separator="\x1f"
            )
        )
        .otherwise(
            pl.concat_str(
                [
                    pl.lit("row"),
                    pl.col("account"),
                    pl.col("date").cast(pl.String),
                    pl.col("amount_minor").cast(pl.String),
                    pl.col("currency"),
                    pl.col("_description"),
                    pl.col("_occurrence").cast(pl.String),
                ],
                separator="\x1f",
            )
        )
    ).to_series()
    blake2b = hashlib.blake2b
    keys = [
        int.from_bytes(blake2b(value.encode(), digest_size=8).digest(), "big", signed=True)
        for value in material.to_list()
    ]
    return rows.with_columns(dedupe_key=pl.Series(keys, dtype=pl.Int64))


def balance_breaks(rows: pl.DataFrame) -> list[BalanceBreak]:
    """Rows where previous balance + amount ≠ balance, per account, in file order.

    Statements list newest-first as often as oldest-first, so both directions are checked and
    the one that fits better is taken.
    """
    with_balance = rows.filter(pl.col("balance_minor").is_not_null())
    if with_balance.height < 2:
        return []
    found: list[BalanceBreak] = []
    for (account,), group in with_balance.group_by("account", maintain_order=True):
        forward = group.with_columns(
            expected=pl.col("balance_minor").shift(1) + pl.col("amount_minor")
        )
        backward = group.with_columns(
            expected=pl.col("balance_minor").shift(1) - pl.col("amount_minor").shift(1)
        )
        best = min(
            (
                frame.filter(
                    pl.col("expected").is_not_null()
                    & (pl.col("expected") != pl.col("balance_minor"))
                )
                for frame in (forward, backward)
            ),
            key=lambda frame: frame.height,
        )
        found.extend(
            BalanceBreak(r["row"], str(account), r["currency"], r["expected"], r["balance_minor"])
            for r in best.head(1).iter_rows(named=True)
        )
    return sorted(found, key=lambda b: b.row)


def insert_rows(*, session: Session, frame: pl.DataFrame, project_id: str, file_id: int) -> None:
    """Bulk insert, skipping rows whose (project, dedupe_key) already exists."""
    if frame.is_empty():
        return
    table = frame.select(
        pl.lit(project_id).alias("project_id"),
        pl.lit(file_id).alias("file_id"),
        pl.col("row"),
        pl.col("account").str.slice(0, 100),
        pl.col("date"),
        pl.col("amount_minor"),
        pl.col("currency"),
        pl.col("description").str.slice(0, 500),
        pl.col("category").str.slice(0, 100),
        pl.col("balance_minor"),
        pl.col("dedupe_key"),
    )
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # SQLAlchemy's Date type stores ISO text on SQLite; write the same text directly.
        table = table.with_columns(pl.col("date").cast(pl.String))
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = (
            f"INSERT OR IGNORE INTO bank_transaction ({', '.join(COLUMNS)}) "  # noqa: S608 - fixed names
            f"VALUES ({placeholders})"
        )
        for offset in range(0, table.height, INSERT_CHUNK):
            cursor.executemany(sql, table.slice(offset, INSERT_CHUNK).iter_rows())
        cursor.close()
        return
    statement = pg_insert(Transaction.__table__).on_conflict_do_nothing(  # type: ignore[arg-type]
        constraint="uq_transaction_project_dedupe"
    )
    for offset in range(0, table.height, INSERT_CHUNK):
        connection.execute(statement, table.slice(offset, INSERT_CHUNK).to_dicts())


def pending_files(
    *, session: Session, project_id: str, file_ids: list[int] | None = None
) -> list[StoredFile]:
    query = select(StoredFile).where(
        StoredFile.project_id == project_id, StoredFile.status == "pending"
    )
    if file_ids:
        query = query.where(col(StoredFile.id).in_(file_ids))
    return list(session.exec(query.order_by(col(StoredFile.id))).all())
