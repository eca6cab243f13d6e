"""`/api/projects`: list, aggregate (extract + validate + report), latest report, CSV export."""

from __future__ import annotations

import csv
import io
import zipfile

import httpx
import pytest
from fastapi.testclient import TestClient

from finapp import db
from finapp.services import auth
from tests.api.conftest import ADMIN
from tests.conftest import reload_settings

HEADER = "Date,Description,Category,Amount,Balance\n"
# Row numbers as the user sees the file: the header is row 1.
STATEMENT_ROWS = [
    "2024-01-03,Salary,Income,2500.00,3500.00",  # 2
    "2024-01-05,Coffee,Food,-3.50,3496.50",  # 3
    "2024-01-20,Rent,Housing,-1200.00,2296.50",  # 4
    "2024-02-01,Groceries,Food,-85.25,2211.25",  # 5
    "2024-13-45,Mystery,Food,-10.00,2201.25",  # 6: no 13th month
    "2024-02-10,Refund,Shopping,19.99,2300.00",  # 7: 2211.25 + 19.99 is 2231.24, not 2300.00
    "2024-02-15,Book,Shopping,-12.00,2288.00",  # 8: continues from the (wrong) 2300.00
]
STATEMENT = (HEADER + "\n".join(STATEMENT_ROWS) + "\n").encode()
GOOD_ROWS = 6

EXPECTED_TOTALS = {"EUR": {"in": 251999, "out": -130075, "net": 121924, "count": 6}}
EXPECTED_BY_MONTH = [
    # January: +2500.00 -3.50 -1200.00
    {
        "month": "2024-01",
        "currency": "EUR",
        "in": 250000,
        "out": -120350,
        "net": 129650,
        "count": 3,
    },
    # February: -85.25 +19.99 -12.00
    {"month": "2024-02", "currency": "EUR", "in": 1999, "out": -9725, "net": -7726, "count": 3},
]
EXPECTED_BY_CATEGORY = [  # biggest spending first
    {"category": "Housing", "currency": "EUR", "in": 0, "out": -120000, "net": -120000, "count": 1},
    {"category": "Food", "currency": "EUR", "in": 0, "out": -8875, "net": -8875, "count": 2},
    {"category": "Shopping", "currency": "EUR", "in": 1999, "out": -1200, "net": 799, "count": 2},
    {"category": "Income", "currency": "EUR", "in": 250000, "out": 0, "net": 250000, "count": 1},
]

# Three rows of STATEMENT again (other balances: balances are not part of a row's identity)
# and three new ones.
OVERLAP = (
    HEADER
    + "2024-02-01,Groceries,Food,-85.25,2211.25\n"
    + "2024-02-10,Refund,Shopping,19.99,2231.24\n"
    + "2024-02-15,Book,Shopping,-12.00,2219.24\n"
    + "2024-02-20,Gym,Sport,-30.00,2189.24\n"
    + "2024-03-01,Salary,Income,2500.00,4689.24\n"
    + "2024-03-02,Taxi,Transport,-18.40,4670.84\n"
).encode()


@pytest.fixture(autouse=True)
def default_limits(monkeypatch: pytest.MonkeyPatch, isolated_settings: None) -> None:
    """The root conftest does not clear these; a developer's environment must not leak in."""
    monkeypatch.delenv("FINAPP_MAX_FILE_MB", raising=False)
    monkeypatch.delenv("FINAPP_DEFAULT_CURRENCY", raising=False)
    reload_settings()


def upload(
    client: TestClient,
    headers: dict[str, str],
    *parts: tuple[str, bytes],
    project_id: str = "acme",
) -> list[dict]:
    response = client.post(
        "/api/files",
        data={"project_id": project_id},
        files=[("file", (name, data, "application/octet-stream")) for name, data in parts],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["rejected"] == []
    return response.json()["stored"]


def aggregate(
    client: TestClient, headers: dict[str, str], project_id: str = "acme", **body: object
) -> dict:
    response = client.post(
        f"/api/projects/{project_id}/aggregate", json=body or None, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def file_detail(client: TestClient, headers: dict[str, str], file_id: int) -> dict:
    response = client.get(f"/api/files/{file_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def export_rows(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text)))


def session_cookie() -> str:
    with db.session_scope() as session:
        user = auth.find_user(session=session, username=ADMIN)
        assert user is not None
        token = auth.start_session(session=session, user=user, client="testclient")
    return f"{auth.SESSION_COOKIE}={token}"


# --- list -------------------------------------------------------------------------------------


def test_projects_are_listed_in_id_order(client: TestClient, auth_headers: dict[str, str]) -> None:
    assert client.get("/api/projects", headers=auth_headers).json() == []
    upload(client, auth_headers, ("s.csv", STATEMENT), project_id="zeta")
    upload(client, auth_headers, ("s.csv", STATEMENT), project_id="alpha")

    projects = client.get("/api/projects", headers=auth_headers).json()

    assert [(p["id"], p["name"]) for p in projects] == [("alpha", "alpha"), ("zeta", "zeta")]
    assert all(p["created_at"] for p in projects)


# --- aggregate and report ---------------------------------------------------------------------


def test_aggregate_reports_exact_figures_and_every_problem(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    [record] = upload(client, auth_headers, ("statement.csv", STATEMENT))

    report = aggregate(client, auth_headers)

    assert report["project_id"] == "acme"
    assert report["transactions"] == GOOD_ROWS
    assert report["files_processed"] == 1
    assert report["files"] == {"extracted": 1}
    assert report["is_valid"] is False
    where = {"file_id": record["id"], "file": "statement.csv"}
    bad_date, balance_break = report["errors"]
    assert {k: bad_date[k] for k in ("file_id", "file", "row")} == {**where, "row": 6}
    assert "unparseable date '2024-13-45'" in bad_date["message"]
    assert balance_break == {
        **where,
        "row": 7,
        "message": "Balance break: expected 2231.24, the file says 2300.00.",
    }
    assert report["error_count"] == 2
    assert not any("already imported" in w for w in report["warnings"])
    assert report["currency"] == "EUR"
    assert report["totals"] == EXPECTED_TOTALS
    assert report["by_month"] == EXPECTED_BY_MONTH
    assert report["by_category"] == EXPECTED_BY_CATEGORY
    assert report["by_account"] == [
        {"account": "—", "currency": "EUR", "in": 251999, "out": -130075, "net": 121924, "count": 6}
    ]
    assert report["date_range"] == {"from": "2024-01-03", "to": "2024-02-15"}
    assert isinstance(report["duration_ms"], int)

    detail = file_detail(client, auth_headers, record["id"])
    assert (detail["status"], detail["transactions"], detail["unreadable_rows"]) == (
        "extracted",
        6,
        1,
    )


def test_aggregating_again_is_idempotent(client: TestClient, auth_headers: dict[str, str]) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))
    first = aggregate(client, auth_headers)

    second = aggregate(client, auth_headers)

    assert second["transactions"] == first["transactions"] == GOOD_ROWS
    assert second["totals"] == EXPECTED_TOTALS
    assert second["errors"] == first["errors"]


def test_report_returns_the_latest_stored_report(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))
    before = client.get("/api/projects/acme/report", headers=auth_headers)
    assert before.status_code == 404
    assert "not been aggregated" in before.json()["detail"]

    aggregated = aggregate(client, auth_headers)
    response = client.get("/api/projects/acme/report", headers=auth_headers)

    assert response.status_code == 200, response.text
    stored = response.json()
    assert isinstance(stored["report_id"], int)
    assert stored["created_at"]
    assert {k: v for k, v in stored.items() if k not in ("report_id", "created_at")} == aggregated
    assert stored["totals"] == EXPECTED_TOTALS

    upload(client, auth_headers, ("overlap.csv", OVERLAP))
    newer = aggregate(client, auth_headers)
    latest = client.get("/api/projects/acme/report", headers=auth_headers).json()
    assert latest["report_id"] > stored["report_id"]
    assert latest["transactions"] == newer["transactions"] == 9


def test_unknown_project_is_404(client: TestClient, auth_headers: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/api/projects/nope/report"),
        ("POST", "/api/projects/nope/aggregate"),
        ("GET", "/api/projects/nope/transactions.csv"),
    ):
        response = client.request(method, path, headers=auth_headers)
        assert response.status_code == 404, (method, path, response.text)
        assert "nope" in response.json()["detail"]
    assert client.get("/api/projects", headers=auth_headers).json() == []  # not auto-created


def test_reimported_statement_adds_nothing_and_says_so(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))
    aggregate(client, auth_headers)
    resent = STATEMENT.replace(b"Coffee,", b"Coffee   ,")  # not byte-identical
    assert resent != STATEMENT
    [copy] = upload(client, auth_headers, ("statement-march-export.csv", resent))
    assert (copy["status"], copy["duplicate_of"]) == ("pending", None)

    report = aggregate(client, auth_headers)

    assert report["transactions"] == GOOD_ROWS
    assert report["totals"] == EXPECTED_TOTALS
    assert (
        "statement-march-export.csv: 6 transactions were already imported from another file "
        "and were not added again."
    ) in report["warnings"]
    detail = file_detail(client, auth_headers, copy["id"])
    assert (detail["status"], detail["transactions"], detail["already_imported"]) == (
        "extracted",
        0,
        6,
    )


def test_overlapping_statement_adds_only_the_new_rows(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    upload(client, auth_headers, ("january-february.csv", STATEMENT))
    aggregate(client, auth_headers)
    [overlap] = upload(client, auth_headers, ("february-march.csv", OVERLAP))

    report = aggregate(client, auth_headers)

    assert report["transactions"] == GOOD_ROWS + 3
    # The three new rows: -30.00, +2500.00, -18.40.
    assert report["totals"] == {"EUR": {"in": 501999, "out": -134915, "net": 367084, "count": 9}}
    assert report["date_range"] == {"from": "2024-01-03", "to": "2024-03-02"}
    detail = file_detail(client, auth_headers, overlap["id"])
    assert (detail["transactions"], detail["already_imported"]) == (3, 3)
    assert detail["balance_break"] is None
    assert any(w.startswith("february-march.csv: 3 transactions") for w in report["warnings"])


def test_aggregate_limited_to_some_files(client: TestClient, auth_headers: dict[str, str]) -> None:
    first, second = upload(
        client, auth_headers, ("statement.csv", STATEMENT), ("overlap.csv", OVERLAP)
    )

    report = aggregate(client, auth_headers, file_ids=[second["id"]])

    assert report["transactions"] == 6
    assert report["files"] == {"extracted": 1}
    assert report["files_processed"] == 1
    assert report["is_valid"] is True
    assert report["errors"] == []
    assert report["date_range"] == {"from": "2024-02-01", "to": "2024-03-02"}
    assert file_detail(client, auth_headers, first["id"])["status"] == "pending"

    everything = aggregate(client, auth_headers)

    assert everything["transactions"] == 9  # the first file adds the 3 rows the other lacks
    assert everything["files"] == {"extracted": 2}
    assert file_detail(client, auth_headers, first["id"])["already_imported"] == 3


def test_one_corrupt_workbook_does_not_stop_the_other_files(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types>not really</Types>")
        archive.writestr("xl/workbook.xml", b"\x00\xffgarbage, not a workbook")
        archive.writestr("xl/worksheets/sheet1.xml", "<<<")
    broken, good = upload(
        client, auth_headers, ("broken.xlsx", buffer.getvalue()), ("good.csv", OVERLAP)
    )
    assert broken["kind"] == "xlsx"  # it passed the upload check: a zip with xl/ entries

    report = aggregate(client, auth_headers)

    failed = file_detail(client, auth_headers, broken["id"])
    assert failed["status"] == "failed"
    assert failed["status_detail"].strip()
    assert failed["transactions"] == 0
    assert file_detail(client, auth_headers, good["id"])["status"] == "extracted"
    assert report["transactions"] == 6
    assert report["files"] == {"failed": 1, "extracted": 1}
    assert report["is_valid"] is False
    assert {
        "file_id": broken["id"],
        "file": "broken.xlsx",
        "row": None,
        "message": failed["status_detail"],
    } in report["errors"]
    assert all(e["file"] == "broken.xlsx" for e in report["errors"])


# --- CSV export -------------------------------------------------------------------------------


def test_transactions_csv_is_exact_and_defuses_formulas(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    content = (
        HEADER
        + "2024-01-05,Coffee,Food,-3.50,96.50\n"
        + '2024-01-06,"=HYPERLINK(""http://x"")",@risk,-1.00,95.50\n'
        + "2024-01-07,Salary,+Income,1000.00,1095.50\n"
    ).encode()
    upload(client, auth_headers, ("=cmd.csv", content))
    aggregate(client, auth_headers)

    response = client.get("/api/projects/acme/transactions.csv", headers=auth_headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="acme-transactions.csv"'
    )
    header, *rows = export_rows(response)
    assert ",".join(header) == "date,account,description,category,amount,currency,balance,file,row"
    assert rows == [
        ["2024-01-05", "", "Coffee", "Food", "-3.50", "EUR", "96.50", "'=cmd.csv", "2"],
        [
            "2024-01-06",
            "",
            '\'=HYPERLINK("http://x")',
            "'@risk",
            "-1.00",
            "EUR",
            "95.50",
            "'=cmd.csv",
            "3",
        ],
        ["2024-01-07", "", "Salary", "'+Income", "1000.00", "EUR", "1095.50", "'=cmd.csv", "4"],
    ]


def test_transactions_csv_defuses_formulas_in_the_account(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    content = b'Date,Account,Description,Amount\n2024-01-05,"=HYPERLINK(""http://x"")",Tea,-2.00\n'
    upload(client, auth_headers, ("accounts.csv", content))
    assert aggregate(client, auth_headers)["transactions"] == 1

    response = client.get("/api/projects/acme/transactions.csv", headers=auth_headers)

    [_header, row] = export_rows(response)
    assert row[1] == '\'=HYPERLINK("http://x")'


def test_transactions_csv_of_a_project_without_transactions_is_just_the_header(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))  # not aggregated yet

    response = client.get("/api/projects/acme/transactions.csv", headers=auth_headers)

    assert response.status_code == 200
    assert response.text == "date,account,description,category,amount,currency,balance,file,row\n"


def test_transactions_csv_accepts_the_browser_session_cookie(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))
    aggregate(client, auth_headers)
    url = "/api/projects/acme/transactions.csv"

    response = client.get(url, headers={"Cookie": session_cookie()})

    assert response.status_code == 200, response.text
    assert len(export_rows(response)) == 1 + GOOD_ROWS
    garbage = client.get(url, headers={"Cookie": f"{auth.SESSION_COOKIE}=fs_garbage"})
    assert garbage.status_code == 401
    # The cookie opens downloads only.
    cookie_only = {"Cookie": session_cookie()}
    assert client.get("/api/projects/acme/report", headers=cookie_only).status_code == 401
    assert client.post("/api/projects/acme/aggregate", headers=cookie_only).status_code == 401


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/projects"),
        ("POST", "/api/projects/acme/aggregate"),
        ("GET", "/api/projects/acme/report"),
        ("GET", "/api/projects/acme/transactions.csv"),
    ],
)
def test_every_projects_route_needs_a_token(
    client: TestClient, auth_headers: dict[str, str], method: str, path: str
) -> None:
    upload(client, auth_headers, ("statement.csv", STATEMENT))

    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
        response = client.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)

    assert client.get("/api/projects/acme/report", headers=auth_headers).status_code == 404
