"""`/api/email`: check now, statistics, status, health, mailboxes and the message ledger, over
HTTP against the private Dovecot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from finapp.api.app import create_api
from finapp.models import User
from finapp.services import extraction_queue
from tests.conftest import reload_settings
from tests.imap_server import (
    DovecotServer,
    dovecot,  # noqa: F401 - fixture
    free_port,
    mailbox_server,  # noqa: F401 - fixture
    make_message,
)

EMAIL_VARS = (
    "EMAIL_ADDRESS",
    "EMAIL_PASSWORD",
    "EMAIL_IMAP_SERVER",
    "EMAIL_IMAP_PORT",
    "EMAIL_SECURITY",
    "EMAIL_FOLDER",
    "EMAIL_SENDER_WHITELIST",
    "EMAIL_POLL_MINUTES",
    "EMAIL_CA_FILE",
    "EMAIL_DEFAULT_PROJECT",
)
MAILBOX_KEYS = {
    "id",
    "name",
    "source",
    "address",
    "imap_server",
    "imap_port",
    "security",
    "folder",
    "sender_whitelist",
    "default_project",
    "post_action",
    "post_action_arg",
    "enabled",
    "last_check_at",
    "last_status",
    "last_error",
}
DOWNLOAD_KEYS = {"filename", "saved_as", "size", "project_id", "message_id", "received_at"}


@pytest.fixture(autouse=True)
def no_email_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in EMAIL_VARS:
        monkeypatch.delenv(name, raising=False)
    reload_settings()


@pytest.fixture(autouse=True)
def drop_test_folders(request: pytest.FixtureRequest) -> Iterator[None]:
    """Folders made here are removed afterwards: the shared Dovecot's `clear()` keeps them,
    and other modules expect only INBOX."""
    server = (
        request.getfixturevalue("mailbox_server")
        if "mailbox_server" in request.fixturenames
        else None
    )
    yield
    if server is not None and server.is_running():
        server.clear(delete_folders=True)


def statement_csv(tag: str, rows: int = 2) -> bytes:
    lines = ["Date,Description,Amount"]
    lines += [f"2024-01-{i + 1:02d},{tag} item {i + 1},-{i + 1}.25" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def send(server: DovecotServer, subject: str, *files: tuple[str, bytes], **kwargs: Any) -> int:
    kwargs.setdefault("sender", "bank@example.com")
    return server.append(
        make_message(
            to="finance@example.com",
            subject=subject,
            attachments=[(name, data, "text/csv") for name, data in files],
            **kwargs,
        )
    )


def add_mailbox(
    client: TestClient, headers: dict[str, str], server: DovecotServer, **body: Any
) -> dict[str, Any]:
    body = {
        "name": "inbox",
        "address": server.user,
        "password": server.password,
        "imap_server": "127.0.0.1",
        "imap_port": server.port,
        "security": "none",
        **body,
    }
    response = client.post("/api/email/mailboxes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# -- check now ------------------------------------------------------------------------------------


def test_check_returns_the_new_downloads(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    send(
        mailbox_server,
        "[Q4_2024] Statement",
        ("jan.csv", statement_csv("jan")),
        ("../feb.csv", statement_csv("feb")),
        message_id="<jan@bank.example>",
    )
    send(mailbox_server, "Newsletter")
    add_mailbox(client, auth_headers, mailbox_server)

    response = client.post("/api/email/check", headers=auth_headers)

    assert response.status_code == 200, response.text
    downloads = response.json()
    assert [set(d) >= DOWNLOAD_KEYS for d in downloads] == [True, True]
    assert [
        (d["filename"], d["saved_as"], d["size"], d["project_id"], d["message_id"])
        for d in downloads
    ] == [
        ("jan.csv", "jan.csv", len(statement_csv("jan")), "Q4_2024", "<jan@bank.example>"),
        ("../feb.csv", "feb.csv", len(statement_csv("feb")), "Q4_2024", "<jan@bank.example>"),
    ]
    assert datetime.fromisoformat(downloads[0]["received_at"]).tzinfo is not None
    # the files are in the file store, extracted (off the request's path, at once)
    assert extraction_queue.drain(timeout=60)
    for download in downloads:
        record = client.get(f"/api/files/{download['file_id']}", headers=auth_headers)
        assert record.status_code == 200, record.text
        assert record.json()["status"] == "extracted"

    again = client.post("/api/email/check", headers=auth_headers)
    assert (again.status_code, again.json()) == (200, [])


def test_check_one_mailbox_by_id(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    mailbox_server.create_folder("Other")
    send(mailbox_server, "[A_1] Statement", ("a.csv", statement_csv("a")))
    mailbox_server.append(
        make_message(
            sender="bank@example.com",
            to="x@example.com",
            subject="[B_1] Statement",
            attachments=[("b.csv", statement_csv("b"), "text/csv")],
        ),
        folder="Other",
    )
    add_mailbox(client, auth_headers, mailbox_server)
    other = add_mailbox(client, auth_headers, mailbox_server, name="other", folder="Other")

    response = client.post(
        "/api/email/check", json={"mailbox_id": other["id"]}, headers=auth_headers
    )

    assert response.status_code == 200, response.text
    assert [(d["filename"], d["project_id"]) for d in response.json()] == [("b.csv", "B_1")]
    missing = client.post("/api/email/check", json={"mailbox_id": 999}, headers=auth_headers)
    assert missing.status_code == 404


def test_check_without_a_mailbox_is_400(client: TestClient, auth_headers: dict[str, str]) -> None:
    response = client.post("/api/email/check", headers=auth_headers)

    assert response.status_code == 400
    assert "No mailbox configured" in response.json()["detail"]


def test_check_when_every_mailbox_fails_is_502_with_the_reasons(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    add_mailbox(client, auth_headers, mailbox_server, name="badpass", password="wrong")
    add_mailbox(client, auth_headers, mailbox_server, name="closed", imap_port=free_port())

    response = client.post("/api/email/check", headers=auth_headers)

    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "Login failed" in detail
    assert "Connection refused" in detail

    # one working mailbox is enough for a 200
    send(mailbox_server, "[Q4_2024] Statement", ("ok.csv", statement_csv("ok")))
    add_mailbox(client, auth_headers, mailbox_server, name="good")
    response = client.post("/api/email/check", headers=auth_headers)
    assert response.status_code == 200, response.text
    assert [d["filename"] for d in response.json()] == ["ok.csv"]
    health = client.get("/api/email/health", headers=auth_headers).json()
    assert health["status"] == "degraded"
    assert sorted(health["failing"]) == ["badpass", "closed"]


# -- statistics, status, health -------------------------------------------------------------------


def test_statistics_count_messages_files_and_reasons(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    empty = client.get("/api/email/statistics", headers=auth_headers)
    assert empty.status_code == 200
    assert empty.json() == {
        "emails_processed": 0,
        "emails_seen": 0,
        "files_downloaded": 0,
        "skipped": 0,
        "failed": 0,
        "unassigned": 0,
        "skipped_by_reason": {},
        "failed_by_reason": {},
        "last_check": None,
    }
    send(
        mailbox_server,
        "[Q4_2024] one",
        ("a.csv", statement_csv("a")),
        ("b.csv", statement_csv("b")),
    )
    send(mailbox_server, "[Q4_2024] two", ("c.csv", statement_csv("c")))
    send(mailbox_server, "[Q4_2024] none")
    send(mailbox_server, "[Q4_2024] stranger", ("d.csv", statement_csv("d")), sender="x@evil.test")
    send(mailbox_server, "[Q4_2024] empty", ("e.csv", b""))
    send(mailbox_server, "no project", ("f.csv", statement_csv("f")))
    add_mailbox(client, auth_headers, mailbox_server, sender_whitelist="bank@example.com")
    assert client.post("/api/email/check", headers=auth_headers).status_code == 200

    stats = client.get("/api/email/statistics", headers=auth_headers).json()

    assert stats["emails_processed"] == 2
    assert stats["emails_seen"] == 6
    assert stats["files_downloaded"] == 3
    assert (stats["skipped"], stats["failed"], stats["unassigned"]) == (2, 1, 1)
    assert stats["skipped_by_reason"] == {
        "no statement attachments": 1,
        "sender not whitelisted": 1,
    }
    assert stats["failed_by_reason"] == {"empty attachment": 1}
    assert stats["last_check"] is not None


def test_status_and_health_follow_the_mailbox(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    status = client.get("/api/email/status", headers=auth_headers).json()
    assert status["configured"] is False
    assert status["email_address"] is None
    assert "Not configured" in status["message"]
    assert client.get("/api/email/health", headers=auth_headers).json() == {
        "status": "not_configured",
        "mailboxes": 0,
        "failing": [],
        "last_check": None,
    }

    created = add_mailbox(client, auth_headers, mailbox_server, folder="INBOX")
    status = client.get("/api/email/status", headers=auth_headers).json()
    assert status["configured"] is True
    assert (status["email_address"], status["imap_server"], status["watched_folder"]) == (
        mailbox_server.user,
        "127.0.0.1",
        "INBOX",
    )
    assert status["message"] == "Configured; not checked yet."
    assert [m["name"] for m in status["mailboxes"]] == ["inbox"]

    client.post("/api/email/check", headers=auth_headers)
    status = client.get("/api/email/status", headers=auth_headers).json()
    assert status["message"] == "Connected."
    assert status["mailboxes"][0]["last_status"] == "connected"
    health = client.get("/api/email/health", headers=auth_headers).json()
    assert (health["status"], health["mailboxes"], health["failing"]) == ("ok", 1, [])
    assert health["last_check"] is not None

    client.patch(
        f"/api/email/mailboxes/{created['id']}", json={"password": "wrong"}, headers=auth_headers
    )
    assert client.post("/api/email/check", headers=auth_headers).status_code == 502
    status = client.get("/api/email/status", headers=auth_headers).json()
    assert status["message"].startswith("Login failed")
    health = client.get("/api/email/health", headers=auth_headers).json()
    assert (health["status"], health["failing"]) == ("degraded", ["inbox"])


# -- mailboxes ------------------------------------------------------------------------------------


def test_mailbox_crud_never_returns_the_password(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    secret = mailbox_server.password
    created = add_mailbox(
        client,
        auth_headers,
        mailbox_server,
        sender_whitelist="bank@example.com @accounting.example",
        default_project="acme",
        post_action="flag",
        post_action_arg="finapp-done",
    )
    assert set(created) == MAILBOX_KEYS
    assert created["source"] == "ui" and created["last_status"] == "never"
    texts = [str(created)]

    listed = client.get("/api/email/mailboxes", headers=auth_headers)
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()] == [created["id"]]
    texts.append(listed.text)

    duplicate = client.post(
        "/api/email/mailboxes",
        json={"name": "inbox", "address": "a", "password": "b", "imap_server": "localhost",
              "security": "none"},
        headers=auth_headers,
    )  # fmt: skip
    assert duplicate.status_code == 409
    remote = client.post(
        "/api/email/mailboxes",
        json={"name": "remote", "address": "a", "password": "b",
              "imap_server": "imap.example.com", "security": "none"},
        headers=auth_headers,
    )  # fmt: skip
    assert remote.status_code == 400
    assert "localhost" in remote.json()["detail"]
    default_port = client.post(
        "/api/email/mailboxes",
        json={"name": "gmail", "address": "me@gmail.com", "password": "app-pass",
              "imap_server": "imap.gmail.com"},
        headers=auth_headers,
    )  # fmt: skip
    assert default_port.status_code == 201
    assert (default_port.json()["security"], default_port.json()["imap_port"]) == ("ssl", 993)

    patched = client.patch(
        f"/api/email/mailboxes/{created['id']}",
        json={"password": "new-secret-password", "folder": "Archive", "enabled": False},
        headers=auth_headers,
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["folder"], patched.json()["enabled"]) == ("Archive", False)
    texts.append(patched.text)
    bad_patch = client.patch(
        f"/api/email/mailboxes/{created['id']}", json={"post_action": "burn"}, headers=auth_headers
    )
    assert bad_patch.status_code == 400
    texts.append(client.get("/api/email/status", headers=auth_headers).text)
    for text in texts:
        assert secret not in text
        assert "new-secret-password" not in text
        assert "password" not in text

    deleted = client.delete(f"/api/email/mailboxes/{created['id']}", headers=auth_headers)
    assert (deleted.status_code, deleted.json()) == (200, {"deleted": created["id"]})
    assert (
        client.delete(f"/api/email/mailboxes/{created['id']}", headers=auth_headers).status_code
        == 404
    )
    assert [m["name"] for m in client.get("/api/email/mailboxes", headers=auth_headers).json()] == [
        "gmail"
    ]


def test_changed_password_is_used_for_the_next_check(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    created = add_mailbox(client, auth_headers, mailbox_server, password="wrong")
    assert client.post("/api/email/check", headers=auth_headers).status_code == 502
    client.patch(
        f"/api/email/mailboxes/{created['id']}",
        json={"password": mailbox_server.password},
        headers=auth_headers,
    )
    send(mailbox_server, "[Q4_2024] Statement", ("x.csv", statement_csv("x")))
    response = client.post("/api/email/check", headers=auth_headers)
    assert response.status_code == 200
    assert [d["filename"] for d in response.json()] == ["x.csv"]


# -- the ledger -----------------------------------------------------------------------------------


def test_messages_list_and_assign(
    client: TestClient,
    auth_headers: dict[str, str],
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    uid = send(mailbox_server, "Your statement", ("u.csv", statement_csv("u")))
    send(mailbox_server, "[Q4_2024] Statement", ("p.csv", statement_csv("p")))
    add_mailbox(client, auth_headers, mailbox_server)
    assert client.post("/api/email/check", headers=auth_headers).json()[0]["filename"] == "p.csv"

    everything = client.get("/api/email/messages", headers=auth_headers)
    assert everything.status_code == 200
    assert [m["status"] for m in everything.json()] == ["processed", "unassigned"]  # newest first
    unassigned = client.get("/api/email/messages?status=unassigned", headers=auth_headers).json()
    [entry] = unassigned
    assert (entry["uid"], entry["subject"], entry["sender"], entry["project_id"]) == (
        uid,
        "Your statement",
        "bank@example.com",
        None,
    )
    assert entry["file_ids"] == []

    bad = client.post(
        f"/api/email/messages/{entry['id']}/assign",
        json={"project_id": "no spaces allowed"},
        headers=auth_headers,
    )
    assert bad.status_code == 400
    assigned = client.post(
        f"/api/email/messages/{entry['id']}/assign",
        json={"project_id": "acme"},
        headers=auth_headers,
    )
    assert assigned.status_code == 200, assigned.text
    body = assigned.json()
    assert (body["id"], body["status"], body["project_id"]) == (entry["id"], "processed", "acme")
    [file_id] = body["file_ids"]
    assert extraction_queue.drain(timeout=60)
    record = client.get(f"/api/files/{file_id}", headers=auth_headers).json()
    assert (record["project_id"], record["status"]) == ("acme", "extracted")
    assert client.get("/api/email/messages?status=unassigned", headers=auth_headers).json() == []
    again = client.post(
        f"/api/email/messages/{entry['id']}/assign",
        json={"project_id": "acme"},
        headers=auth_headers,
    )
    assert again.status_code == 400
    missing = client.post(
        "/api/email/messages/99999/assign", json={"project_id": "acme"}, headers=auth_headers
    )
    assert missing.status_code == 404


@pytest.fixture
def lenient_client(database: Path, admin: User) -> Iterator[TestClient]:
    """Server errors come back as HTTP responses instead of being raised into the test."""
    with TestClient(create_api(), raise_server_exceptions=False) as test_client:
        yield test_client


def test_assign_when_the_server_refuses_says_why(
    lenient_client: TestClient,
    mailbox_server: DovecotServer,  # noqa: F811
) -> None:
    client = lenient_client
    token = client.post(
        "/api/auth/token", data={"username": "admin", "password": "correct horse battery staple"}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    send(mailbox_server, "Your statement", ("u.csv", statement_csv("u")))
    created = add_mailbox(client, headers, mailbox_server)
    client.post("/api/email/check", headers=headers)
    [entry] = client.get("/api/email/messages?status=unassigned", headers=headers).json()
    client.patch(
        f"/api/email/mailboxes/{created['id']}", json={"password": "wrong"}, headers=headers
    )

    response = client.post(
        f"/api/email/messages/{entry['id']}/assign", json={"project_id": "acme"}, headers=headers
    )

    assert response.status_code in (400, 502), response.text
    assert "Login failed" in response.json()["detail"]


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/email/check"),
        ("GET", "/api/email/statistics"),
        ("GET", "/api/email/status"),
        ("GET", "/api/email/health"),
        ("GET", "/api/email/mailboxes"),
        ("POST", "/api/email/mailboxes"),
        ("PATCH", "/api/email/mailboxes/1"),
        ("DELETE", "/api/email/mailboxes/1"),
        ("GET", "/api/email/messages"),
        ("POST", "/api/email/messages/1/assign"),
    ],
)
def test_every_route_needs_a_token(client: TestClient, method: str, path: str) -> None:
    body = {"project_id": "acme"} if path.endswith("assign") else None
    missing = client.request(method, path, json=body)
    assert missing.status_code == 401, missing.text
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = client.request(method, path, json=body, headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 401
