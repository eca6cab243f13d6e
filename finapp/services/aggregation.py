"""Aggregate and validate a project: extract what is pending, then report figures and problems.

The figures come from one GROUP BY over (month, category, account, currency, direction): one
scan of the project's transactions however many breakdowns the report shows; the handful of
resulting groups is folded into totals in Python.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session, col, select

from finapp.db import utcnow
from finapp.models import AggregationReport, StoredFile, Transaction
from finapp.services.errors import NotFound
from finapp.services.files import ensure_project
from finapp.services.money import format_minor
from finapp.services.transactions import extract_file, pending_files

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 200


def aggregate_project(
    *, session: Session, project_id: str, file_ids: list[int] | None = None
) -> dict[str, Any]:
    """Extract the project's pending files (or only `file_ids`), then build, store and return
    the report: files_processed, transactions, is_valid, errors, warnings, totals per category,
    month, account and currency, and the date range."""
    started = time.perf_counter()
    project = ensure_project(session=session, project_id=project_id)
    for record in pending_files(session=session, project_id=project.id, file_ids=file_ids):
        extract_file(session=session, record=record)
    report = build_report(session=session, project_id=project.id, file_ids=file_ids)
    duration_ms = int((time.perf_counter() - started) * 1000)
    report["duration_ms"] = duration_ms
    session.add(
        AggregationReport(
            project_id=project.id,
            files_processed=report["files_processed"],
            transactions=report["transactions"],
            is_valid=report["is_valid"],
            duration_ms=duration_ms,
            report=report,
        )
    )
    session.flush()
    logger.info(
        "Aggregated %s: %d files, %d transactions, valid=%s in %d ms",
        project.id,
        report["files_processed"],
        report["transactions"],
        report["is_valid"],
        duration_ms,
    )
    return report


def latest_report(*, session: Session, project_id: str) -> AggregationReport:
    report = session.exec(
        select(AggregationReport)
        .where(AggregationReport.project_id == project_id)
        .order_by(col(AggregationReport.created_at).desc(), col(AggregationReport.id).desc())
    ).first()
    if report is None:
        raise NotFound(f"Project {project_id!r} has not been aggregated yet.")
    return report


def build_report(
    *, session: Session, project_id: str, file_ids: list[int] | None = None
) -> dict[str, Any]:
    files_query = select(StoredFile).where(StoredFile.project_id == project_id)
    if file_ids:
        files_query = files_query.where(col(StoredFile.id).in_(file_ids))
    files = list(session.exec(files_query.order_by(col(StoredFile.id))).all())
    errors, warnings = _file_problems(files)

    figures = _figures(session, project_id, [f.id for f in files] if file_ids else None)
    currencies = sorted(figures["totals"])
    if len(currencies) > 1:
        warnings.append(
            f"Several currencies ({', '.join(currencies)}): totals are kept per currency."
        )
    status_counts: dict[str, int] = defaultdict(int)
    for record in files:
        status_counts[record.status] += 1
    return {
        "project_id": project_id,
        "generated_at": utcnow().isoformat(),
        "files_processed": sum(n for s, n in status_counts.items() if s != "pending"),
        "files": dict(status_counts),
        "transactions": figures["count"],
        "is_valid": not errors,
        "errors": errors[:MAX_REPORTED_ERRORS],
        "error_count": len(errors) + sum(max(0, f.error_count - len(f.issues)) for f in files),
        "warnings": warnings,
        "currency": currencies[0] if len(currencies) == 1 else ("mixed" if currencies else None),
        "totals": figures["totals"],
        "by_category": figures["by_category"],
        "by_month": figures["by_month"],
        "by_account": figures["by_account"],
        "date_range": figures["date_range"],
    }


def _file_problems(files: list[StoredFile]) -> tuple[list[dict[str, Any]], list[str]]:
    errors: list[dict[str, Any]] = []
    warnings: list[str] = []
    for record in files:
        where = {"file_id": record.id, "file": record.original_name}
        if record.status == "failed":
            errors.append({**where, "row": None, "message": record.status_detail})
        file_errors = [
            {**where, "row": issue["row"], "message": issue["message"]} for issue in record.issues
        ]
        if record.balance_break:
            brk = record.balance_break
            file_errors.append(
                {
                    **where,
                    "row": brk["row"],
                    "message": f"Balance break{' on ' + brk['account'] if brk['account'] else ''}: "
                    f"expected {format_minor(brk['expected_minor'], brk['currency'])}, "
                    f"the file says {format_minor(brk['found_minor'], brk['currency'])}.",
                }
            )
        errors.extend(sorted(file_errors, key=lambda e: e["row"]))
        warnings.extend(f"{record.original_name}: {w}" for w in record.warnings)
        if record.already_imported_count:
            warnings.append(
                f"{record.original_name}: {record.already_imported_count} transactions were "
                "already imported from another file and were not added again."
            )
        if record.status == "skipped":
            warnings.append(f"{record.original_name}: skipped. {record.status_detail}")
        if record.status == "pending":
            warnings.append(f"{record.original_name}: not extracted yet.")
    return errors, warnings


def _month(session: Session) -> ColumnElement[str]:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(Transaction.date, "YYYY-MM")
    return func.substr(Transaction.date, 1, 7)  # ISO text on SQLite


def _figures(session: Session, project_id: str, file_ids: list[int] | None) -> dict[str, Any]:
    month = _month(session).label("month")
    incoming = case((col(Transaction.amount_minor) >= 0, True), else_=False).label("incoming")
    query = select(
        month,
        Transaction.category,
        Transaction.account,
        Transaction.currency,
        incoming,
        func.sum(Transaction.amount_minor),
        func.count(),
        func.min(Transaction.date),
        func.max(Transaction.date),
    ).where(Transaction.project_id == project_id)
    if file_ids is not None:
        query = query.where(col(Transaction.file_id).in_(file_ids or [-1]))
    query = query.group_by(
        month, Transaction.category, Transaction.account, Transaction.currency, incoming
    )

    def bucket() -> dict[str, int]:
        return {"in": 0, "out": 0, "net": 0, "count": 0}

    totals: dict[str, dict[str, int]] = defaultdict(bucket)
    by: dict[str, dict[tuple[str, str], dict[str, int]]] = {
        "category": defaultdict(bucket),
        "month": defaultdict(bucket),
        "account": defaultdict(bucket),
    }
    first: date | None = None
    last: date | None = None
    count = 0
    for mon, category, account, currency, is_in, total, n, low, high in session.exec(query):
        total, n = int(total), int(n)
        count += n
        low, high = _as_date(low), _as_date(high)
        first = low if first is None or low < first else first
        last = high if last is None or high > last else last
        for target in (
            totals[currency],
            by["category"][(category or "Uncategorised", currency)],
            by["month"][(mon, currency)],
            by["account"][(account or "—", currency)],
        ):
            target["in" if is_in else "out"] += total
            target["net"] += total
            target["count"] += n

    def rows(name: str) -> list[dict[str, Any]]:
        return [
            {name: key, "currency": currency, **values}
            for (key, currency), values in sorted(by[name].items())
        ]

    return {
        "count": count,
        "totals": dict(totals),
        "by_category": sorted(rows("category"), key=lambda r: r["out"]),
        "by_month": rows("month"),
        "by_account": rows("account"),
        "date_range": {
            "from": first.isoformat() if first else None,
            "to": last.isoformat() if last else None,
        },
    }


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
