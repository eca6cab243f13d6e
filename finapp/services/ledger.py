"""Reading stored transactions back: search with pagination, and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import or_
from sqlmodel import Session, col, func, select

from finapp.models import StoredFile, Transaction
from finapp.services.money import format_minor

EXPORT_BATCH = 5_000
CSV_HEADER = (
    "date",
    "account",
    "description",
    "category",
    "amount",
    "currency",
    "balance",
    "file",
    "row",
)


def _filtered(project_id: str, search: str) -> list:
    conditions = [Transaction.project_id == project_id]
    term = search.strip()
    if term:
        pattern = f"%{term.lower()}%"
        conditions.append(
            or_(
                func.lower(Transaction.description).like(pattern),
                func.lower(Transaction.category).like(pattern),
                func.lower(Transaction.account).like(pattern),
            )
        )
    return conditions


def list_transactions(
    *, session: Session, project_id: str, search: str = "", offset: int = 0, limit: int = 50
) -> tuple[list[Transaction], int]:
    """A page of the project's transactions (newest first) matching `search`, and the total."""
    conditions = _filtered(project_id, search)
    total = session.exec(select(func.count()).select_from(Transaction).where(*conditions)).one()
    rows = session.exec(
        select(Transaction)
        .where(*conditions)
        .order_by(col(Transaction.date).desc(), col(Transaction.id).desc())
        .offset(max(0, offset))
        .limit(max(1, min(limit, 500)))
    ).all()
    return list(rows), total


def export_csv(*, session: Session, project_id: str) -> Iterator[str]:
    """The project's transactions as CSV text chunks, oldest first, streamed in batches so a
    million rows never sit in memory at once."""
    names = dict(
        session.exec(
            select(StoredFile.id, StoredFile.original_name).where(
                StoredFile.project_id == project_id
            )
        ).all()
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    last_id = 0
    while True:
        batch = session.exec(
            select(Transaction)
            .where(Transaction.project_id == project_id, col(Transaction.id) > last_id)
            .order_by(col(Transaction.id))
            .limit(EXPORT_BATCH)
        ).all()
        if not batch:
            break
        for t in batch:
            writer.writerow(
                (
                    t.date.isoformat(),
                    _no_formula(t.account),
                    _no_formula(t.description),
                    _no_formula(t.category),
                    format_minor(t.amount_minor, t.currency),
                    t.currency,
                    "" if t.balance_minor is None else format_minor(t.balance_minor, t.currency),
                    _no_formula(names.get(t.file_id, "")),
                    t.row,
                )
            )
        last_id = batch[-1].id or last_id
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def _no_formula(text: str) -> str:
    # A description like "=HYPERLINK(...)" from a hostile statement must not run as a formula
    # when the export is opened in a spreadsheet (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
