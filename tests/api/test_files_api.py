"""`/api/files`: multipart upload, list with filters, metadata, download, delete."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from fastapi.testclient import TestClient

from finapp import db
from finapp.api.app import create_api
from finapp.models import User
from finapp.services import auth, files
from tests.api.conftest import ADMIN, ADMIN_PASSWORD
from tests.conftest import reload_settings

HEADER = "Date,Description,Category,Amount,Balance\n"
STATEMENT = (
    HEADER
    + "2024-01-03,Salary,Income,2500.00,3500.00\n"
    + "2024-01-05,Coffee,Food,-3.50,3496.50\n"
    + "2024-01-20,Rent,Housing,-1200.00,2296.50\n"
).encode()
OTHER_STATEMENT = (HEADER + "2024-03-01,Gym,Sport,-30.00,970.00\n").encode()
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


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
    project_id: str = "proj-1",
) -> httpx.Response:
    return client.post(
        "/api/files",
        data={"project_id": project_id},
        files=[("file", (name, data, "application/octet-stream")) for name, data in parts],
        headers=headers,
    )


def stored_one(client: TestClient, headers: dict[str, str], name: str, data: bytes, **kw) -> dict:
    response = upload(client, headers, (name, data), **kw)
    assert response.status_code == 201, response.text
    [record] = response.json()["stored"]
    return record


def raw_multipart(project_id: str, filename: bytes, data: bytes) -> tuple[bytes, str]:
    """A multipart body written by hand, so the filename reaches the server byte for byte
    (httpx percent-encodes most control characters)."""
    boundary = "finapp-test-boundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="project_id"\r\n\r\n'
        f"{project_id}\r\n"
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/csv\r\n\r\n'
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def disposition_filename(header: str) -> str:
    assert header.startswith("attachment;"), header
    if match := re.search(r"filename\*=utf-8''(\S+)", header):
        return unquote(match.group(1))
    match = re.search(r'filename="([^"]*)"', header)
    assert match, header
    return match.group(1)


def blobs(data_dir: Path) -> list[Path]:
    root = data_dir / "files"
    if not root.exists():
        return []
    return [p for p in root.rglob("*") if p.is_file() and "incoming" not in p.parts]


def session_cookie() -> str:
    with db.session_scope() as session:
        user = auth.find_user(session=session, username=ADMIN)
        assert user is not None
        token = auth.start_session(session=session, user=user, client="testclient")
    return f"{auth.SESSION_COOKIE}={token}"


# --- upload ---------------------------------------------------------------------------------


def test_upload_stores_a_csv_and_creates_the_project(
    client: TestClient, auth_headers: dict[str, str], data_dir: Path
) -> None:
    assert client.get("/api/projects", headers=auth_headers).json() == []

    response = upload(client, auth_headers, ("statement.csv", STATEMENT), project_id="acme-2024")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rejected"] == []
    [record] = body["stored"]
    assert record["status"] == "pending"
    assert record["kind"] == "csv"
    assert record["size"] == len(STATEMENT)
    assert record["sha256"] == hashlib.sha256(STATEMENT).hexdigest()
    assert record["project_id"] == "acme-2024"
    assert record["name"] == record["safe_name"] == "statement.csv"
    assert record["source"] == "upload"
    assert record["source_ref"] == f"api:{ADMIN}"
    assert record["duplicate_of"] is None
    assert [p["id"] for p in client.get("/api/projects", headers=auth_headers).json()] == [
        "acme-2024"
    ]
    assert blobs(data_dir) == []  # small content lives in the database, with its row
    with db.session_scope() as session:
        assert files.read_content(session=session, sha256=record["sha256"]) == STATEMENT


def test_one_refused_file_does_not_stop_the_others(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = upload(
        client,
        auth_headers,
        ("january.csv", STATEMENT),
        ("trojan.xlsx", b"MZ\x90\x00" + b"\x00" * 100),
        ("march.csv", OTHER_STATEMENT),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert [f["name"] for f in body["stored"]] == ["january.csv", "march.csv"]
    [rejected] = body["rejected"]
    assert rejected["filename"] == "trojan.xlsx"
    assert "Windows executable" in rejected["detail"]
    listed = client.get("/api/files", headers=auth_headers).json()
    assert listed["total"] == 2
    assert {f["name"] for f in listed["items"]} == {"january.csv", "march.csv"}


@pytest.mark.parametrize(
    ("parts", "needle"),
    [
        ([("trojan.xlsx", b"MZ" + b"\x00" * 64)], "Windows executable"),
        ([("setup.exe", b"MZ" + b"\x00" * 64)], "accepted: CSV"),
        ([("empty.csv", b"")], "empty"),
        ([("a.exe", b"MZ"), ("b.csv", b"")], "accepted"),  # the first refusal is the answer
    ],
    ids=["content-contradicts-extension", "unsupported-extension", "empty", "all-refused"],
)
def test_refusing_every_file_is_400_with_the_reason(
    client: TestClient,
    auth_headers: dict[str, str],
    data_dir: Path,
    parts: list[tuple[str, bytes]],
    needle: str,
) -> None:
    response = upload(client, auth_headers, *parts)

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert needle in detail
    assert client.get("/api/files", headers=auth_headers).json()["total"] == 0
    assert client.get("/api/projects", headers=auth_headers).json() == []  # rolled back too
    assert blobs(data_dir) == []


@pytest.fixture
def one_mb_client(
    monkeypatch: pytest.MonkeyPatch, database: Path, admin: User
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("FINAPP_MAX_FILE_MB", "1")
    reload_settings()
    with TestClient(create_api()) as test_client:
        token = test_client.post(
            "/api/auth/token", data={"username": ADMIN, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        yield test_client, {"Authorization": f"Bearer {token}"}


def assert_nothing_stored(client: TestClient, headers: dict[str, str], data_dir: Path) -> None:
    assert client.get("/api/files", headers=headers).json()["total"] == 0
    assert blobs(data_dir) == []
    incoming = data_dir / "files" / "incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


def test_oversized_file_is_413_and_leaves_nothing_behind(
    one_mb_client: tuple[TestClient, dict[str, str]], data_dir: Path
) -> None:
    client, headers = one_mb_client
    big = HEADER.encode() + b"2024-01-03,Salary,Income,1.00,1.00\n" * 45_000  # ~1.5 MB
    assert 1.4 * 2**20 < len(big) < 1.6 * 2**20

    response = upload(client, headers, ("big.csv", big))

    assert response.status_code == 413, response.text
    assert "1 MB" in response.json()["detail"]
    assert_nothing_stored(client, headers, data_dir)


def test_declared_huge_body_is_413_without_being_read(
    one_mb_client: tuple[TestClient, dict[str, str]], data_dir: Path
) -> None:
    client, headers = one_mb_client
    consumed = []

    def body() -> Iterator[bytes]:
        consumed.append(True)
        yield b"x" * 1024

    response = client.post(
        "/api/files",
        content=body(),
        headers={
            **headers,
            "Content-Type": "multipart/form-data; boundary=xyz",
            "Content-Length": str(50 * 2**30),
        },
    )

    assert response.status_code == 413, response.text
    assert "1 MB" in response.json()["detail"]
    assert consumed == []
    assert_nothing_stored(client, headers, data_dir)


def test_undeclared_oversized_body_is_counted_and_refused(
    one_mb_client: tuple[TestClient, dict[str, str]], data_dir: Path
) -> None:
    client, headers = one_mb_client
    body, content_type = raw_multipart("proj-1", b"big.csv", b"a,b\n" * (3 * 2**20 // 4))

    def chunks() -> Iterator[bytes]:  # a generator: sent without Content-Length
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = client.post(
        "/api/files", content=chunks(), headers={**headers, "Content-Type": content_type}
    )

    assert response.status_code == 413, response.text
    assert "1 MB" in response.json()["detail"]
    assert_nothing_stored(client, headers, data_dir)


def test_several_files_each_under_the_limit_are_accepted(
    one_mb_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = one_mb_client
    part = HEADER.encode() + b"2024-01-03,Salary,Income,1.00,1.00\n" * 27_000  # ~0.9 MB
    assert len(part) < 2**20

    response = upload(
        client, headers, ("a.csv", part), ("b.csv", part + b"\n"), ("c.csv", part + b"\n\n")
    )

    assert response.status_code == 201, response.text


def test_hostile_filenames_are_sanitised_and_downloads_are_exact(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    traversal = stored_one(client, auth_headers, "../../etc/passwd.csv", STATEMENT)
    body, content_type = raw_multipart(
        "proj-1", "bad\x01\x07\x1b[31mname\x7f\x9b\t.csv".encode(), OTHER_STATEMENT
    )
    response = client.post(
        "/api/files", content=body, headers={**auth_headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    [control] = response.json()["stored"]

    assert traversal["safe_name"] == "passwd.csv"
    assert traversal["name"] == "../../etc/passwd.csv"  # shown as sent, never used as a path
    assert control["safe_name"] == "bad[31mname.csv"
    for record, content in ((traversal, STATEMENT), (control, OTHER_STATEMENT)):
        assert "/" not in record["safe_name"]
        assert "\\" not in record["safe_name"]
        assert not CONTROL.search(record["safe_name"])
        assert not CONTROL.search(record["name"])

        download = client.get(f"/api/files/{record['id']}/content", headers=auth_headers)

        assert download.status_code == 200
        assert download.content == content
        assert (
            disposition_filename(download.headers["content-disposition"]) == (record["safe_name"])
        )
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-type"].startswith("text/csv")


def test_same_content_twice_is_recorded_as_a_duplicate(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    first = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    second = stored_one(client, auth_headers, "statement (1).csv", STATEMENT)

    assert first["status"] == "pending"
    assert second["status"] == "skipped"
    assert second["duplicate_of"] == first["id"]
    assert str(first["id"]) in second["status_detail"]
    assert second["sha256"] == first["sha256"]
    elsewhere = stored_one(client, auth_headers, "s.csv", STATEMENT, project_id="other")
    assert elsewhere["status"] == "pending"  # duplicates are per project
    assert elsewhere["duplicate_of"] is None


@pytest.mark.parametrize("project_id", ["../x", "a b", "-leading-dash", "x/y", "é"])
def test_bad_project_id_is_400(
    client: TestClient, auth_headers: dict[str, str], project_id: str
) -> None:
    response = upload(client, auth_headers, ("s.csv", STATEMENT), project_id=project_id)

    assert response.status_code == 400, response.text
    assert "project id" in response.json()["detail"]
    assert client.get("/api/projects", headers=auth_headers).json() == []
    assert client.get("/api/files", headers=auth_headers).json()["total"] == 0


def test_64_character_project_id_is_accepted(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    stored_one(client, auth_headers, "s.csv", STATEMENT, project_id="p" * 64)


def test_65_character_project_id_is_400(client: TestClient, auth_headers: dict[str, str]) -> None:
    response = upload(client, auth_headers, ("s.csv", STATEMENT), project_id="p" * 65)

    assert response.status_code == 400, response.text
    assert "project id" in response.json()["detail"]


def test_65_character_project_id_is_refused_and_nothing_stored(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    response = upload(client, auth_headers, ("s.csv", STATEMENT), project_id="p" * 65)

    assert response.status_code in (400, 422), response.text
    assert client.get("/api/projects", headers=auth_headers).json() == []
    assert client.get("/api/files", headers=auth_headers).json()["total"] == 0


# --- list / detail ----------------------------------------------------------------------------


def test_list_filters_and_paginates(client: TestClient, auth_headers: dict[str, str]) -> None:
    a1 = stored_one(client, auth_headers, "a1.csv", STATEMENT, project_id="alpha")
    a2 = stored_one(client, auth_headers, "a2.csv", STATEMENT, project_id="alpha")  # duplicate
    b1 = stored_one(client, auth_headers, "b1.csv", OTHER_STATEMENT, project_id="beta")
    with db.session_scope() as session:
        mailed = files.store_file(
            session=session,
            filename="mailed.csv",
            project_id="beta",
            source="email",
            data=HEADER.encode() + b"2024-04-01,Tax,Tax,-99.00,1.00\n",
            source_ref="mail:bank@example.com",
        ).file.id

    def listing(**params: object) -> dict:
        response = client.get("/api/files", params=params, headers=auth_headers)
        assert response.status_code == 200, response.text
        return response.json()

    def ids(page: dict) -> list[int]:
        return [item["id"] for item in page["items"]]

    everything = listing()
    assert everything["total"] == 4
    assert ids(everything) == [mailed, b1["id"], a2["id"], a1["id"]]  # newest first
    assert (everything["offset"], everything["limit"]) == (0, 50)

    assert ids(listing(project_id="alpha")) == [a2["id"], a1["id"]]
    assert listing(project_id="alpha")["total"] == 2
    assert ids(listing(source="email")) == [mailed]
    assert listing(source="email")["items"][0]["source_ref"] == "mail:bank@example.com"
    assert ids(listing(source="upload", project_id="beta")) == [b1["id"]]
    assert ids(listing(status="skipped")) == [a2["id"]]
    assert listing(status="pending")["total"] == 3
    assert listing(project_id="nobody") == {"items": [], "total": 0, "offset": 0, "limit": 50}

    pages = [listing(offset=offset, limit=3) for offset in (0, 3, 6)]
    assert [p["total"] for p in pages] == [4, 4, 4]
    assert [len(p["items"]) for p in pages] == [3, 1, 0]
    assert [i for p in pages for i in ids(p)] == ids(everything)
    assert listing(project_id="alpha", offset=1, limit=1) == {
        "items": [listing(project_id="alpha")["items"][1]],
        "total": 2,
        "offset": 1,
        "limit": 1,
    }
    for bad in ({"limit": 0}, {"limit": 501}, {"offset": -1}):
        assert client.get("/api/files", params=bad, headers=auth_headers).status_code == 422


def test_detail_includes_issues_and_warnings(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    content = (
        HEADER
        + "2024-01-03,Salary,Income,2500.00,3500.00\n"
        + "not a date,Broken,Food,-1.00,3499.00\n"
        + "2024-01-05,Coffee,Food,-3.50,3400.00\n"
    ).encode()
    record = stored_one(client, auth_headers, "detail.csv", content)
    before = client.get(f"/api/files/{record['id']}", headers=auth_headers)
    assert before.status_code == 200
    assert before.json()["issues"] == []
    assert before.json()["warnings"] == []
    assert before.json()["balance_break"] is None

    aggregated = client.post("/api/projects/proj-1/aggregate", headers=auth_headers)
    assert aggregated.status_code == 200, aggregated.text
    detail = client.get(f"/api/files/{record['id']}", headers=auth_headers).json()

    assert detail["id"] == record["id"]
    assert detail["status"] == "extracted"
    assert detail["transactions"] == 2
    assert detail["unreadable_rows"] == 1
    assert detail["already_imported"] == 0
    [issue] = detail["issues"]
    assert issue["row"] == 3
    assert "not a date" in issue["message"]
    assert isinstance(detail["warnings"], list)
    assert detail["balance_break"] == {
        "row": 4,
        "account": "",
        "currency": "EUR",
        "expected_minor": 349650,
        "found_minor": 340000,
    }
    assert detail["sha256"] == hashlib.sha256(content).hexdigest()


def test_unknown_file_is_404_with_a_json_detail(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    for method, path in (
        ("GET", "/api/files/999999"),
        ("GET", "/api/files/999999/content"),
        ("DELETE", "/api/files/999999"),
    ):
        response = client.request(method, path, headers=auth_headers)
        assert response.status_code == 404, (method, path, response.text)
        assert "999999" in response.json()["detail"]


# --- delete -----------------------------------------------------------------------------------


def test_delete_removes_the_file_its_transactions_and_its_blob(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    record = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    first = client.post("/api/projects/proj-1/aggregate", headers=auth_headers).json()
    assert first["transactions"] == 3

    response = client.delete(f"/api/files/{record['id']}", headers=auth_headers)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == record["id"]
    assert client.get(f"/api/files/{record['id']}", headers=auth_headers).status_code == 404
    assert client.get(f"/api/files/{record['id']}/content", headers=auth_headers).status_code == (
        404
    )
    with db.session_scope() as session, pytest.raises(FileNotFoundError):
        files.read_content(session=session, sha256=record["sha256"])
    again = client.post("/api/projects/proj-1/aggregate", headers=auth_headers).json()
    assert again["transactions"] == 0
    assert again["totals"] == {}
    assert again["files"] == {}
    export = client.get("/api/projects/proj-1/transactions.csv", headers=auth_headers)
    assert export.text.strip().splitlines() == [
        "date,account,description,category,amount,currency,balance,file,row"
    ]


def test_deleting_the_first_copy_promotes_its_duplicate(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    first = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    client.post("/api/projects/proj-1/aggregate", headers=auth_headers)
    copy = stored_one(client, auth_headers, "copy.csv", STATEMENT)
    assert copy["duplicate_of"] == first["id"]

    assert client.delete(f"/api/files/{first['id']}", headers=auth_headers).status_code == 200

    heir = client.get(f"/api/files/{copy['id']}", headers=auth_headers).json()
    assert (heir["status"], heir["duplicate_of"]) == ("pending", None)
    with db.session_scope() as session:  # still needed
        assert files.read_content(session=session, sha256=copy["sha256"]) == STATEMENT
    report = client.post("/api/projects/proj-1/aggregate", headers=auth_headers).json()
    assert report["transactions"] == 3


def test_deleting_a_file_keeps_rows_another_file_also_brought(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    first = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    client.post("/api/projects/proj-1/aggregate", headers=auth_headers)
    resent = STATEMENT.replace(b"Coffee,", b"Coffee  ,")  # same rows, other bytes
    stored_one(client, auth_headers, "statement-again.csv", resent)
    assert (
        client.post("/api/projects/proj-1/aggregate", headers=auth_headers).json()["transactions"]
        == 3
    )

    assert client.delete(f"/api/files/{first['id']}", headers=auth_headers).status_code == 200

    report = client.post("/api/projects/proj-1/aggregate", headers=auth_headers).json()
    assert report["transactions"] == 3


# --- authentication ---------------------------------------------------------------------------

FILE_ROUTES = [
    ("POST", "/api/files"),
    ("GET", "/api/files"),
    ("GET", "/api/files/1"),
    ("GET", "/api/files/1/content"),
    ("DELETE", "/api/files/1"),
]


@pytest.mark.parametrize(("method", "path"), FILE_ROUTES)
def test_every_files_route_needs_a_token(
    client: TestClient, auth_headers: dict[str, str], method: str, path: str
) -> None:
    record = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    assert record["id"] == 1
    kwargs: dict = {}
    if method == "POST":
        kwargs = {"data": {"project_id": "proj-1"}, "files": [("file", ("x.csv", STATEMENT))]}

    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Basic"}):
        response = client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert isinstance(response.json()["detail"], str)

    assert client.get("/api/files/1", headers=auth_headers).status_code == 200  # not deleted
    assert client.get("/api/files", headers=auth_headers).json()["total"] == 1  # none added


def test_download_accepts_the_browser_session_cookie(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    record = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    url = f"/api/files/{record['id']}/content"

    response = client.get(url, headers={"Cookie": session_cookie()})

    assert response.status_code == 200, response.text
    assert response.content == STATEMENT
    garbage = client.get(url, headers={"Cookie": f"{auth.SESSION_COOKIE}=fs_garbage"})
    assert garbage.status_code == 401
    assert client.get(url, headers={"Cookie": f"{auth.SESSION_COOKIE}=nonsense"}).status_code == (
        401
    )


def test_session_cookie_only_opens_downloads(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    record = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    cookie = {"Cookie": session_cookie()}

    assert client.get(f"/api/files/{record['id']}", headers=cookie).status_code == 401
    assert client.get("/api/files", headers=cookie).status_code == 401
    assert client.delete(f"/api/files/{record['id']}", headers=cookie).status_code == 401
    assert client.get(f"/api/files/{record['id']}", headers=auth_headers).status_code == 200


def test_an_ended_browser_session_cannot_download(
    client: TestClient, auth_headers: dict[str, str]
) -> None:
    record = stored_one(client, auth_headers, "statement.csv", STATEMENT)
    cookie = session_cookie()
    with db.session_scope() as session:
        auth.end_session(session=session, token=cookie.split("=", 1)[1])

    response = client.get(f"/api/files/{record['id']}/content", headers={"Cookie": cookie})

    assert response.status_code == 401


def test_large_content_is_downloaded_from_the_data_dir_with_the_same_headers(
    client: TestClient,
    auth_headers: dict[str, str],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "SMALL_CONTENT_BYTES", 16)  # STATEMENT is larger: on disk
    record = stored_one(client, auth_headers, "Übersicht.csv", STATEMENT)
    assert [p.name for p in blobs(data_dir)] == [record["sha256"]]

    download = client.get(f"/api/files/{record['id']}/content", headers=auth_headers)

    assert download.status_code == 200
    assert download.content == STATEMENT
    assert disposition_filename(download.headers["content-disposition"]) == "Übersicht.csv"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-type"].startswith("text/csv")
