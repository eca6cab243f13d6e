"""Project page: the latest aggregation report, charts, validation problems, transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from finapp.db import session_scope
from finapp.services import aggregation, files, ledger
from finapp.services.errors import FinappError, NotFound
from finapp.services.extraction.currency import exponent
from finapp.services.money import format_minor
from finapp.state.auth import AuthState
from finapp.state.paging import range_label

TX_PAGE_SIZE = 25


def _major(minor: int, currency: str) -> float:
    # Charts plot numbers; this float never feeds a calculation or a stored value.
    return minor / 10 ** exponent(currency)


def _aggregate(project_id: str) -> None:
    with session_scope() as session:
        aggregation.aggregate_project(session=session, project_id=project_id)


class ProjectsState(AuthState):
    projects: list[str] = []
    project_id: str = ""
    loading: bool = True
    aggregating: bool = False
    error: str = ""

    has_report: bool = False
    report_time: str = ""
    files_processed: int = 0
    transaction_count: int = 0
    is_valid: bool = True
    error_count: int = 0
    chart_currency: str = ""
    date_from: str = ""
    date_to: str = ""
    totals: list[dict[str, str]] = []
    monthly: list[dict[str, Any]] = []
    categories: list[dict[str, Any]] = []
    problems: list[dict[str, str]] = []
    warnings: list[str] = []

    tx_rows: list[dict[str, str]] = []
    tx_total: int = 0
    tx_page: int = 0
    tx_search: str = ""

    @rx.var
    def tx_page_label(self) -> str:
        return range_label(self.tx_page, TX_PAGE_SIZE, self.tx_total, "No transactions")

    @rx.var
    def tx_has_next(self) -> bool:
        return (self.tx_page + 1) * TX_PAGE_SIZE < self.tx_total

    @rx.var
    def export_url(self) -> str:
        return f"/api/projects/{self.project_id}/transactions.csv"

    @rx.event
    def load(self) -> rx.event.EventSpec | None:
        if self._signed_in_user_id() is None:
            return self._login_redirect()
        with session_scope() as session:
            self.projects = [p.id for p in files.list_projects(session=session)]
        wanted = self.router.url.query_parameters.get("id", "")
        if wanted in self.projects:
            self.project_id = wanted
        elif self.project_id not in self.projects:
            self.project_id = self.projects[0] if self.projects else ""
        self.tx_page, self.tx_search = 0, ""
        self._load_project()
        self.loading = False
        return None

    @rx.event
    def select_project(self, project_id: str) -> rx.event.EventSpec:
        return rx.redirect(f"/projects?id={project_id}")

    def _load_project(self) -> None:
        self.error = ""
        self.has_report = False
        self.problems, self.warnings, self.totals = [], [], []
        self.monthly, self.categories = [], []
        if not self.project_id:
            self.tx_rows, self.tx_total = [], 0
            return
        with session_scope() as session:
            try:
                stored = aggregation.latest_report(session=session, project_id=self.project_id)
                self._show_report(stored.report, stored.created_at.isoformat())
            except NotFound:
                pass
        self._load_transactions()

    def _show_report(self, report: dict[str, Any], created_at: str) -> None:
        self.has_report = True
        self.report_time = created_at
        self.files_processed = report["files_processed"]
        self.transaction_count = report["transactions"]
        self.is_valid = report["is_valid"]
        self.error_count = report.get("error_count", len(report["errors"]))
        self.date_from = report["date_range"]["from"] or ""
        self.date_to = report["date_range"]["to"] or ""
        self.totals = [
            {
                "currency": currency,
                "in": format_minor(t["in"], currency, grouping=True),
                "out": format_minor(t["out"], currency, grouping=True),
                "net": format_minor(t["net"], currency, grouping=True),
                "count": str(t["count"]),
            }
            for currency, t in sorted(report["totals"].items())
        ]
        # Charts show one currency: the one with the most transactions.
        currency = max(report["totals"], key=lambda c: report["totals"][c]["count"], default="")
        self.chart_currency = currency
        self.monthly = [
            {
                "month": m["month"],
                "In": _major(m["in"], currency),
                "Out": _major(-m["out"], currency),
            }
            for m in report["by_month"]
            if m["currency"] == currency
        ]
        spending = [c for c in report["by_category"] if c["currency"] == currency and c["out"]]
        self.categories = [
            {"category": c["category"], "Spent": _major(-c["out"], currency)}
            for c in sorted(spending, key=lambda c: c["out"])[:12]
        ]
        self.problems = [
            {
                "file": str(e.get("file", "")),
                "row": "" if e.get("row") is None else str(e["row"]),
                "message": str(e["message"]),
            }
            for e in report["errors"]
        ]
        self.warnings = list(report["warnings"])

    def _load_transactions(self) -> None:
        with session_scope() as session:
            rows, self.tx_total = ledger.list_transactions(
                session=session,
                project_id=self.project_id,
                search=self.tx_search,
                offset=self.tx_page * TX_PAGE_SIZE,
                limit=TX_PAGE_SIZE,
            )
            self.tx_rows = [
                {
                    "date": t.date.isoformat(),
                    "account": t.account,
                    "description": t.description,
                    "category": t.category,
                    "amount": format_minor(t.amount_minor, t.currency, grouping=True),
                    "currency": t.currency,
                    "negative": "1" if t.amount_minor < 0 else "",
                }
                for t in rows
            ]

    @rx.event
    def search_transactions(self, value: str) -> None:
        self.tx_search, self.tx_page = value[:100], 0
        self._load_transactions()

    @rx.event
    def next_tx_page(self) -> None:
        if self.tx_has_next:
            self.tx_page += 1
            self._load_transactions()

    @rx.event
    def previous_tx_page(self) -> None:
        if self.tx_page > 0:
            self.tx_page -= 1
            self._load_transactions()

    @rx.event(background=True)
    async def aggregate_now(self) -> AsyncIterator[Any]:
        async with self:
            if self._signed_in_user_id() is None or not self.project_id:
                return
            self.aggregating = True
            project_id = self.project_id
        try:
            await asyncio.to_thread(_aggregate, project_id)
        except FinappError as exc:
            async with self:
                self.error = str(exc)
        async with self:
            self.aggregating = False
            self._load_project()
        yield rx.toast.success(f"{project_id} aggregated.")
