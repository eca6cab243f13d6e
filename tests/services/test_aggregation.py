"""The aggregation report: exact figures, validation, scope, storage — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from finapp import db
from finapp.services import aggregation, files
from finapp.services.errors import NotFound
from tests.conftest import reload_settings
from tests.postgres import (
    migrate_fresh,
    postgres_url,  # noqa: F401 - fixture
)

EUR = (
    b"Date,Description,Category,Account,Amount,Balance\n"
    b"2026-01-02,Salary,Income,Main,2500.00,2500.00\n"
    b"2026-01-05,Rent,Housing,Main,-900.00,1600.00\n"
    b"2026-01-20,Coffee,Food,Main,-3.50,1596.50\n"
    b"2026-02-01,Salary,Income,Main,2500.00,4096.50\n"
    b"2026-02-03,Groceries,Food,Main,-120.25,3976.25\n"
)
JPY = (
    b"Date,Description,Category,Account,Amount,Currency\n"
    b"2026-03-01,Ramen,Food,Tokyo,-1200,JPY\n"
    b"2026-03-02,Refund,Food,Tokyo,500,JPY\n"
)


def _store(session: Session, data: bytes, name: str, project: str = "acme") -> int:
    return files.store_file(
        session=session, data=data, filename=name, project_id=project, source="upload"
    ).file.id


def _check_figures(report: dict) -> None:
    assert report["transactions"] == 7
    assert report["files_processed"] == 2
    assert report["is_valid"] is True, report["errors"]
    assert report["currency"] == "mixed"
    assert report["totals"]["EUR"] == {"in": 500000, "out": -102375, "net": 397625, "count": 5}
    assert report["totals"]["JPY"] == {"in": 500, "out": -1200, "net": -700, "count": 2}
    months = {(m["month"], m["currency"]): m for m in report["by_month"]}
    assert months[("2026-01", "EUR")] == {
        "month": "2026-01",
        "currency": "EUR",
        "in": 250000,
        "out": -90350,
        "net": 159650,
        "count": 3,
    }
    assert months[("2026-02", "EUR")]["net"] == 237975
    assert months[("2026-03", "JPY")]["net"] == -700
    categories = {(c["category"], c["currency"]): c["net"] for c in report["by_category"]}
    assert categories == {
        ("Food", "EUR"): -12375,
        ("Housing", "EUR"): -90000,
        ("Income", "EUR"): 500000,
        ("Food", "JPY"): -700,
    }
    accounts = {(a["account"], a["currency"]): a["count"] for a in report["by_account"]}
    assert accounts == {("Main", "EUR"): 5, ("Tokyo", "JPY"): 2}
    assert report["date_range"] == {"from": "2026-01-02", "to": "2026-03-02"}
    assert any("Several currencies" in w for w in report["warnings"])


def test_report_figures_are_exact_per_currency_month_category_and_account(
    session: Session,
) -> None:
    _store(session, EUR, "eur.csv")
    _store(session, JPY, "jpy.csv")
    _check_figures(aggregation.aggregate_project(session=session, project_id="acme"))


def test_report_is_stored_and_latest_one_is_returned(session: Session) -> None:
    with pytest.raises(NotFound):
        aggregation.latest_report(session=session, project_id="acme")
    _store(session, EUR, "eur.csv")
    first = aggregation.aggregate_project(session=session, project_id="acme")
    _store(session, JPY, "jpy.csv")
    second = aggregation.aggregate_project(session=session, project_id="acme")
    stored = aggregation.latest_report(session=session, project_id="acme")
    assert stored.transactions == second["transactions"] == first["transactions"] + 2
    assert stored.report["totals"] == second["totals"]


def test_file_ids_limit_the_report_to_those_files(session: Session) -> None:
    eur = _store(session, EUR, "eur.csv")
    _store(session, JPY, "jpy.csv")
    report = aggregation.aggregate_project(session=session, project_id="acme", file_ids=[eur])
    assert report["transactions"] == 5
    assert list(report["totals"]) == ["EUR"]


def test_bad_rows_balance_breaks_and_failed_files_make_the_report_invalid(
    session: Session,
) -> None:
    broken = EUR.replace(b"1596.50\n", b"1590.00\n") + b"31/31/2026,Bad date,Food,Main,-1.00,\n"
    _store(session, broken, "broken.csv")
    _store(session, b"nothing,useful\nhere,at all\n", "junk.csv")
    report = aggregation.aggregate_project(session=session, project_id="acme")
    assert report["is_valid"] is False
    by_file = [(e["file"], e["row"]) for e in report["errors"]]
    assert ("broken.csv", 4) in by_file  # the balance break: 1600.00 - 3.50 != 1590.00
    assert ("broken.csv", 7) in by_file  # the unparseable date
    assert ("junk.csv", None) in by_file  # the whole file could not be read
    assert report["files"] == {"extracted": 1, "failed": 1}


def test_an_empty_project_reports_zero_and_is_valid(session: Session) -> None:
    files.ensure_project(session=session, project_id="empty")
    report = aggregation.aggregate_project(session=session, project_id="empty")
    assert report["transactions"] == 0 and report["is_valid"] is True
    assert report["date_range"] == {"from": None, "to": None}


@pytest.mark.postgres
def test_the_same_pipeline_gives_the_same_report_on_postgresql(
    postgres_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    reload_settings()
    migrate_fresh(postgres_url)
    with db.session_scope() as session:
        _store(session, EUR, "eur.csv")
        _store(session, JPY, "jpy.csv")
    with db.session_scope() as session:
        _check_figures(aggregation.aggregate_project(session=session, project_id="acme"))
    with db.session_scope() as session:  # a re-import adds nothing on PostgreSQL either
        _store(session, EUR + b"\n", "eur-again.csv")
        again = aggregation.aggregate_project(session=session, project_id="acme")
    assert again["transactions"] == 7


def test_deleting_a_file_brings_back_lines_another_file_shared(session: Session) -> None:
    first = _store(session, EUR, "eur.csv")
    aggregation.aggregate_project(session=session, project_id="acme")
    second = _store(session, EUR + b"\n", "eur-again.csv")  # same lines, other bytes
    report = aggregation.aggregate_project(session=session, project_id="acme")
    assert report["transactions"] == 5
    files.delete_file(session=session, file_id=first)
    assert files.get_file(session=session, file_id=second).status == "pending"
    report = aggregation.aggregate_project(session=session, project_id="acme")
    assert report["transactions"] == 5  # now all held by the remaining file
    assert files.get_file(session=session, file_id=second).transaction_count == 5
