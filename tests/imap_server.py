"""A private, throw-away Dovecot IMAP server and builders for the messages mail ingestion meets.

Import the fixtures where they are needed:
`from tests.imap_server import dovecot, mailbox_server  # noqa: F401 - fixtures`
(and `# noqa: F811` where a test takes them as parameters, as with tests/postgres.py).

- `dovecot` (session): one server for the whole run, started on first use, stopped at the end.
  Skips when the `dovecot` binary is missing, fails instead when FINAPP_TEST_REQUIRE_DOVECOT=1.
- `mailbox_server` (function): the same server with every message of every user deleted first
  (folders are kept; UIDs keep counting up, so never assume the first UID is 1). If an earlier
  test killed the server, it is restarted first.

Tests that kill or restart a server should start their own `DovecotServer` (≈0.1–0.3 s) rather
than disturb the shared one. Everything lives in /tmp/finapp-dovecot-<random> (mode 755: the
mail and login processes run as other users and must be able to reach it), removed by `stop()`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import email
import email.policy
import email.utils
import imaplib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from imap_tools.imap_utf7 import utf7_decode, utf7_encode

REQUIRE_ENV = "FINAPP_TEST_REQUIRE_DOVECOT"
HOST = "127.0.0.1"
MAIL_UID = 8  # Debian's `mail` user/group: mail processes may not run as root
MAIL_GID = 8
START_TIMEOUT_S = 15.0
IMAP_TIMEOUT_S = 10.0
DEFAULT_USER = "finapp"
DEFAULT_PASSWORD = "finapp-imap-pass"

# (filename, content, "maintype/subtype")
Attachment = tuple[str, bytes, str]


def find_dovecot() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if Path(p).is_file()), None
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def quote_mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string in modified UTF-7 (imaplib quotes nothing)."""
    encoded = utf7_encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> bytes:
    raw = raw.strip()
    if raw.startswith(b'"') and raw.endswith(b'"'):
        return re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return raw


def _check(result: tuple[str, list], what: str) -> list:
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what} failed: {typ} {data!r}")
    return data


def _live_group_members(pgid: int) -> list[int]:
    """PIDs in process group `pgid` that are not zombies (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


class DovecotServer:
    """One private Dovecot instance: plain IMAP on `port`, IMAPS on `tls_port`, loopback only.

    `start()` / `stop()` (kills the process group, removes the instance folder); `kill()`
    (SIGKILL, a crash: files stay) and `restart()` (same ports, same maildir, so UIDVALIDITY
    survives). Usable as a context manager.
    """

    def __init__(self, user: str = DEFAULT_USER, password: str = DEFAULT_PASSWORD) -> None:
        self.binary = find_dovecot()
        self.host = HOST
        self.user = user
        self.password = password
        self.root: Path | None = None
        self.port = 0
        self.tls_port = 0
        self.process: subprocess.Popen | None = None
        self.start_seconds: float | None = None  # wall time of the last start()/restart()
        self._users: dict[str, str] = {}
        self.add_user(user, password)

    # -- paths ---------------------------------------------------------------------------------

    def _path(self, *parts: str) -> Path:
        if self.root is None:
            raise RuntimeError("DovecotServer is not started")
        return self.root.joinpath(*parts)

    @property
    def ca_file(self) -> str:
        """PEM of the CA that signed the server certificate, for
        `ssl.create_default_context(cafile=…)`."""
        return str(self._path("tls", "ca.pem"))

    @property
    def log_path(self) -> Path:
        return self._path("dovecot.log")

    @property
    def mail_dir(self) -> Path:
        return self._path("mail")

    @property
    def users(self) -> dict[str, str]:
        return dict(self._users)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, RuntimeError):
            return "(no log)"

    # -- users ---------------------------------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        """Add (or change) a login. Works before start and while running (Dovecot re-reads it)."""
        if not name or any(c in name for c in ":\n/") or ":" in password or "\n" in password:
            raise ValueError(f"unusable user/password for a passwd-file: {name!r}")
        self._users[name] = password
        if self.root is not None:
            self._write_passwd()

    def _write_passwd(self) -> None:
        lines = [
            f"{name}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_GID}::{self.mail_dir / name}\n"
            for name, password in self._users.items()
        ]
        target = self._path("passwd")
        tmp = target.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        tmp.chmod(0o644)
        tmp.replace(target)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> DovecotServer:
        if self.is_running():
            return self
        if self.binary is None:
            raise FileNotFoundError(
                "the `dovecot` binary is not installed (apt-get install dovecot-imapd)"
            )
        if shutil.which("openssl") is None:
            raise FileNotFoundError("the `openssl` binary is needed to make the test certificate")
        began = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix="finapp-dovecot-"))
        root.chmod(0o755)  # mkdtemp makes 0700; login/mail processes need to reach inside
        self.root = root
        _register_cleanup(self)
        try:
            for sub in ("tls", "state"):
                self._path(sub).mkdir(mode=0o755)
            self.mail_dir.mkdir(mode=0o755)
            os.chown(self.mail_dir, MAIL_UID, MAIL_GID)
            self._make_certificates()
            self._write_passwd()
            for attempt in range(3):  # free_port() can race with another process
                self.port, self.tls_port = free_port(), free_port()
                self._write_config()
                try:
                    self._launch()
                    break
                except RuntimeError as exc:
                    if attempt == 2 or "in use" not in str(exc):
                        raise
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _make_certificates(self) -> None:
        tls = self._path("tls")
        curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

        def openssl(*args: str) -> None:
            result = subprocess.run(
                ["openssl", *args], cwd=tls, capture_output=True, text=True, timeout=30, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")

        openssl(
            "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3",
            "-subj", "/CN=finapp test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        openssl(
            "req", *curve, "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1",
        )  # fmt: skip
        (tls / "server.ext").write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid,issuer\n"
        )
        openssl(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "3", "-extfile", "server.ext",
        )  # fmt: skip
        for name in ("ca.pem", "server.pem"):
            (tls / name).chmod(0o644)

    def _write_config(self) -> None:
        root = self._path()
        config = f"""\
# private test instance written by tests/imap_server.py
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {HOST}
shutdown_clients = yes

ssl = yes
ssl_cert = <{root}/tls/server.pem
ssl_key = <{root}/tls/server.key

disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {MAIL_UID}
last_valid_uid = 0
first_valid_gid = {MAIL_GID}
last_valid_gid = 0

mail_location = maildir:{root}/mail/%u/Maildir:LAYOUT=fs
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
}}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        self._path("dovecot.conf").write_text(config)

    def _launch(self) -> None:
        assert self.binary is not None
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self._path("dovecot.conf"))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop()/kill() take all children
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        pending = [self.port, self.tls_port]
        while pending:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"dovecot exited with {code} while starting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self._kill_group(signal.SIGKILL)
                raise RuntimeError(
                    f"dovecot gave no `* OK` greeting on {pending} within {START_TIMEOUT_S} s:\n"
                    f"{self.log_tail()}"
                )
            if self._greets(pending[0], tls=pending[0] == self.tls_port):
                pending.pop(0)
            else:
                time.sleep(0.01)

    def _greets(self, port: int, *, tls: bool) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=2) as raw:
                sock: socket.socket = raw
                if tls:
                    context = ssl.create_default_context(cafile=self.ca_file)
                    sock = context.wrap_socket(raw, server_hostname=self.host)
                data = b""
                while b"\r\n" not in data and len(data) < 4096:
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                return data.startswith(b"* OK")
        except OSError:  # includes ssl.SSLError
            return False

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _kill_group(self, sig: signal.Signals) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        # children outlive the master for a moment; make sure none is left running. Zombies
        # don't count: they hold no ports or files, and a container's init may reap them late.
        deadline = time.monotonic() + 5
        while _live_group_members(self.process.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            time.sleep(0.01)
        self.process = None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would. Files (and run/) stay behind."""
        self._kill_group(signal.SIGKILL)

    def restart(self) -> DovecotServer:
        """Start again after kill()/a crash: same ports, same maildir, same UIDVALIDITY."""
        if self.root is None or not self.root.exists():
            raise RuntimeError("nothing to restart: the instance was stopped (or never started)")
        self.kill()
        began = time.monotonic()
        shutil.rmtree(self._path("run"), ignore_errors=True)  # stale master.pid and sockets
        self._launch()
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop every Dovecot process of this instance and delete the instance folder."""
        self._kill_group(signal.SIGKILL)  # test data is disposable: no need for a clean shutdown
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        _unregister_cleanup(self)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<DovecotServer {state} imap={self.port} imaps={self.tls_port} root={self.root}>"

    # -- imaplib helpers -------------------------------------------------------------------------

    @contextlib.contextmanager
    def imap(self, user: str | None = None) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection on the plain port."""
        user = user or self.user
        client = imaplib.IMAP4(self.host, self.port, timeout=IMAP_TIMEOUT_S)
        try:
            client.login(user, self._users[user])
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def append(
        self,
        message: bytes | str | EmailMessage,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
        *,
        internal_date: datetime | None = None,
        user: str | None = None,
    ) -> int:
        """APPEND one message; returns its UID (from the APPENDUID response)."""
        if isinstance(message, EmailMessage):
            raw = message.as_bytes(policy=SMTP)
        elif isinstance(message, str):
            raw = message.encode()
        else:
            raw = message
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        date = imaplib.Time2Internaldate(internal_date) if internal_date else None
        with self.imap(user) as client:
            data = _check(client.append(quote_mailbox(folder), flag_list, date, raw), "APPEND")
        match = re.search(rb"APPENDUID (\d+) (\d+)", b" ".join(d for d in data if d))
        if not match:
            raise imaplib.IMAP4.error(f"no APPENDUID in {data!r}")
        return int(match.group(2))

    def create_folder(self, name: str, *, user: str | None = None) -> None:
        """CREATE a folder and its parents (`/` separates levels), as most servers do.
        An existing folder is fine."""
        parts = name.split("/")
        with self.imap(user) as client:
            for depth in range(1, len(parts) + 1):
                path = "/".join(parts[:depth])
                typ, data = client.create(quote_mailbox(path))
                if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if d):
                    raise imaplib.IMAP4.error(f"CREATE {path!r} failed: {data!r}")

    def delete_folder(self, name: str, *, user: str | None = None) -> None:
        with self.imap(user) as client:
            _check(client.delete(quote_mailbox(name)), f"DELETE {name!r}")

    def folders(self, *, user: str | None = None) -> list[str]:
        """Every selectable folder name (decoded, `/`-separated), INBOX first."""
        with self.imap(user) as client:
            data = _check(client.list('""', "*"), "LIST")
        names = []
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # name sent as a literal
                line, name = item[0], item[1]
            else:
                match = re.match(
                    rb"\((?P<flags>[^)]*)\) (?P<sep>\"(?:\\.|[^\"])*\"|NIL) (?P<name>.+)$", item
                )
                if not match:
                    raise imaplib.IMAP4.error(f"unexpected LIST line {item!r}")
                line, name = item, _unquote(match.group("name"))
            if b"\\noselect" in line.lower() or b"\\nonexistent" in line.lower():
                continue
            names.append(utf7_decode(name))
        return sorted(names, key=lambda n: (n.upper() != "INBOX", n))

    def _select(self, client: imaplib.IMAP4, folder: str, *, readonly: bool) -> None:
        _check(client.select(quote_mailbox(folder), readonly=readonly), f"SELECT {folder!r}")

    def uids(self, folder: str = "INBOX", *, user: str | None = None) -> list[int]:
        with self.imap(user) as client:
            self._select(client, folder, readonly=True)
            data = _check(client.uid("SEARCH", "ALL"), "UID SEARCH")
        return sorted(int(u) for u in b" ".join(d for d in data if d).split())

    def uidvalidity(self, folder: str = "INBOX", *, user: str | None = None) -> int:
        with self.imap(user) as client:
            data = _check(client.status(quote_mailbox(folder), "(UIDVALIDITY)"), "STATUS")
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))  # type: ignore[union-attr]

    def message_count(self, folder: str = "INBOX", *, user: str | None = None) -> int:
        with self.imap(user) as client:
            data = _check(client.status(quote_mailbox(folder), "(MESSAGES)"), "STATUS")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))  # type: ignore[union-attr]

    def flags(self, folder: str, uid: int, *, user: str | None = None) -> set[str]:
        """Flags and keywords of one message, e.g. {"\\\\Seen", "finapp-done"}; \\Recent (which
        depends on who looked first) is left out."""
        with self.imap(user) as client:
            self._select(client, folder, readonly=True)
            data = _check(client.uid("FETCH", str(uid), "(FLAGS)"), "UID FETCH FLAGS")
        text = b" ".join(d if isinstance(d, bytes) else d[0] for d in data if d)
        match = re.search(rb"FLAGS \(([^)]*)\)", text)
        if not match:
            raise KeyError(f"no message with UID {uid} in {folder!r}")
        return set(match.group(1).decode().split()) - {"\\Recent"}

    def fetch_raw(self, folder: str, uid: int, *, user: str | None = None) -> bytes:
        """The full message as stored (BODY.PEEK: does not set \\Seen)."""
        with self.imap(user) as client:
            self._select(client, folder, readonly=True)
            data = _check(client.uid("FETCH", str(uid), "(BODY.PEEK[])"), "UID FETCH")
        for item in data:
            if isinstance(item, tuple):
                return item[1]
        raise KeyError(f"no message with UID {uid} in {folder!r}")

    def clear(self, *, delete_folders: bool = False) -> None:
        """Delete every message in every folder of every user (folders stay unless asked)."""
        for user in self._users:
            with self.imap(user) as client:
                for folder in self.folders(user=user):
                    typ, data = client.select(quote_mailbox(folder))
                    if typ != "OK":
                        continue
                    if int(data[0] or 0):
                        client.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                        client.expunge()
                    client.close()
                if delete_folders:
                    others = [f for f in self.folders(user=user) if f.upper() != "INBOX"]
                    for folder in sorted(others, key=lambda f: -f.count("/")):  # children first
                        client.delete(quote_mailbox(folder))


# -- process-wide bookkeeping ---------------------------------------------------------------------

_live: set[DovecotServer] = set()


def _register_cleanup(server: DovecotServer) -> None:
    _live.add(server)


def _unregister_cleanup(server: DovecotServer) -> None:
    _live.discard(server)


@atexit.register
def _stop_leftovers() -> None:  # a crashed test run must not leave Dovecot running
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


# -- pytest fixtures ----------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but Dovecot cannot be used: {reason}", pytrace=False)
    pytest.skip(reason)


class _Shared:
    """One server per test process, whichever modules import the fixtures; stopped when pytest
    finishes (config cleanup), so importing the fixtures into several modules is fine."""

    server: DovecotServer | None = None
    error: str | None = None

    @classmethod
    def get(cls, config: pytest.Config) -> DovecotServer:
        if cls.server is not None:
            if cls.server.root is None:
                cls.server.start()
            elif not cls.server.is_running():  # a test killed it
                cls.server.restart()
            return cls.server
        if cls.error:
            pytest.fail(cls.error, pytrace=False)
        if find_dovecot() is None:
            _unavailable("the `dovecot` binary is not installed (apt-get install dovecot-imapd)")
        if shutil.which("openssl") is None:
            _unavailable("the `openssl` binary is not installed (needed for the test certificate)")
        server = DovecotServer()
        try:
            server.start()
        except Exception as exc:
            cls.error = f"could not start the test Dovecot: {exc}"
            pytest.fail(cls.error, pytrace=False)
        cls.server = server
        config.add_cleanup(cls.stop)
        return server

    @classmethod
    def stop(cls) -> None:
        if cls.server is not None:
            with contextlib.suppress(Exception):
                cls.server.stop()
            cls.server = None


@pytest.fixture(scope="session")
def dovecot(request: pytest.FixtureRequest) -> DovecotServer:
    """The session's private Dovecot, started on first use, stopped when the test run ends.

    Skips without the binary (fails instead when FINAPP_TEST_REQUIRE_DOVECOT=1)."""
    return _Shared.get(request.config)


@pytest.fixture
def mailbox_server(request: pytest.FixtureRequest) -> DovecotServer:
    """The session's Dovecot with every message of every user deleted (restarted if killed)."""
    server = _Shared.get(request.config)
    server.clear()
    return server


# -- message builders -----------------------------------------------------------------------------


def _split_type(mimetype: str) -> tuple[str, str]:
    maintype, _, subtype = mimetype.partition("/")
    if not subtype:
        raise ValueError(f"mimetype must be maintype/subtype, got {mimetype!r}")
    return maintype, subtype


# 1x1 transparent PNG
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF_MINIMAL = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def make_message(
    *,
    sender: str,
    to: str | Sequence[str],
    subject: str,
    body: str = "",
    attachments: Sequence[Attachment] = (),
    message_id: str | None = None,
    date: datetime | None = None,
    inline: Sequence[Attachment] = (),
    signature_image: bool = False,
    html: str | None = None,
) -> EmailMessage:
    """A realistic message. Attachment filenames are RFC 2231 encoded when not ASCII.

    - `attachments`: (filename, bytes, "type/subtype") with `Content-Disposition: attachment`.
    - `inline`: the same but `Content-Disposition: inline; filename=…` (how Apple Mail sends files).
    - `signature_image`: an HTML part with an inline image/png that has only a Content-ID (no
      filename), inside multipart/related, like a mail client's signature logo.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain="finapp.test")
    msg.set_content(body or "\n")
    if html is not None or signature_image:
        cid = email.utils.make_msgid(domain="finapp.test")
        html_body = html if html is not None else f"<p>{body}</p>"
        if signature_image:
            html_body += f'<p>--<br><img src="cid:{cid[1:-1]}" alt="logo"></p>'
        msg.add_alternative(f"<html><body>{html_body}</body></html>", subtype="html")
        if signature_image:
            html_part = msg.get_payload()[1]
            html_part.add_related(PNG_1X1, "image", "png", cid=cid, disposition="inline")
    for filename, data, mimetype in attachments:
        msg.add_attachment(data, *_split_type(mimetype), filename=filename)
    for filename, data, mimetype in inline:
        msg.add_attachment(data, *_split_type(mimetype), filename=filename, disposition="inline")
    return msg


def _rfc2047_words(text: str, max_bytes: int = 36) -> list[str]:
    """`text` as base64 encoded-words of whole characters, each short enough for one line."""
    words, chunk = [], ""
    for char in text:
        if chunk and len((chunk + char).encode()) > max_bytes:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return ["=?utf-8?b?" + base64.b64encode(w.encode()).decode() + "?=" for w in words]


def add_rfc2047_attachment(
    message: EmailMessage, filename: str, data: bytes, mimetype: str = "application/octet-stream"
) -> EmailMessage:
    """Attach a file whose name is RFC 2047 encoded inside the quotes, as Outlook/older clients do:
    `Content-Disposition: attachment; filename="=?utf-8?b?...?="` (not RFC 2231). Returns `message`.
    """
    maintype, subtype = _split_type(mimetype)
    message.add_attachment(data, maintype, subtype, filename="placeholder.bin")
    part = message.get_payload()[-1]
    quoted = '"' + "\n ".join(_rfc2047_words(filename)) + '"'
    for header in ("Content-Type", "Content-Disposition"):
        del part[header]
    # set_raw: stored and written verbatim (each line fits, so the policy does not refold it)
    part.set_raw("Content-Type", f"{mimetype};\n name={quoted}")
    part.set_raw("Content-Disposition", f"attachment;\n filename={quoted}")
    return message


def forward(
    message: EmailMessage | bytes,
    *,
    sender: str = "forwarder@example.com",
    to: str = "invoices@example.com",
    subject: str | None = None,
    body: str = "Forwarded message attached.",
    filename: str | None = None,
) -> EmailMessage:
    """A new message carrying `message` as a `message/rfc822` attachment (forward as attachment)."""
    if isinstance(message, bytes):
        message = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    original_subject = str(message.get("Subject", ""))
    outer = make_message(
        sender=sender, to=to, subject=subject or f"Fwd: {original_subject}", body=body
    )
    extra = {"filename": filename} if filename else {}
    outer.add_attachment(message, disposition="attachment", **extra)
    return outer


def malformed_message() -> bytes:
    """Broken MIME a mail server will happily store: no From/Date/Message-ID, a boundary that
    never matches its declaration and is never closed, truncated base64, an unknown charset,
    a broken encoded-word subject and a header line without a colon."""
    truncated_pdf = base64.b64encode(PDF_MINIMAL).decode()[:61]  # not a multiple of 4
    return (
        "To: invoices@example.com\r\n"
        "Subject: =?utf-8?q?Rechnung_=E2=82?= broken\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="declared-boundary"\r\n'
        "this header line has no colon\r\n"
        "\r\n"
        "preamble text\r\n"
        "--declared-boundary\r\n"
        'Content-Type: text/plain; charset="x-unknown-99"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Body with a broken soft break =E2=8\r\n"
        "--declared-boundary\r\n"
        'Content-Type: application/pdf; name="truncated.pdf"\r\n'
        'Content-Disposition: attachment; filename="truncated.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{truncated_pdf}\r\n"
        "--some-other-boundary\r\n"
        "Content-Type: text/csv\r\n"
        'Content-Disposition: attachment; filename="orphan.csv\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "ZGF0ZSxhbW91bnQKMjAyNC0wMS0wMSwxMC4w!!!\r\n"
    ).encode()
