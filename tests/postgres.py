"""A private, throw-away PostgreSQL server for the tests that must prove PostgreSQL works.

Import the fixture where it is needed: `from tests.postgres import postgres_url  # noqa: F401`.
The server is started once per test session, whichever modules import the fixture.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ENV = "FINAPP_TEST_REQUIRE_POSTGRES"
DATABASE = "finapp_test"
ROLE = "finapp"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb."""
    candidates = []
    for initdb in Path("/usr/lib/postgresql").glob("*/bin/initdb"):
        try:
            version = float(initdb.parent.parent.name)
        except ValueError:
            continue
        candidates.append((version, initdb.parent))
    return max(candidates)[1] if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but PostgreSQL cannot be used: {reason}", pytrace=False)
    pytest.skip(reason)


class _Server:
    """Started at most once per process; stopped by the first fixture teardown."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.error: str | None = None
        self._stop: list[str] | None = None
        self._root: Path | None = None

    def start(self) -> str:
        if self.url:
            return self.url
        if self.error:
            raise RuntimeError(self.error)
        bin_dir = find_bin_dir()
        if bin_dir is None:
            _unavailable("no PostgreSQL server binaries (initdb) found")
        as_user: list[str] = []
        root = Path(tempfile.mkdtemp(prefix="finapp-pg-"))
        self._root = root
        if os.geteuid() == 0:  # initdb refuses to run as root
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' user to run initdb as")
            as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, user="postgres", group=None)
        data, sockets, log = root / "data", root / "sock", root / "server.log"
        port = free_port()

        def run(*args: str | Path) -> None:
            result = subprocess.run(
                [*as_user, *map(str, args)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                server_log = log.read_text() if log.exists() else ""
                self.error = (
                    f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                    f"{result.stdout}{result.stderr}{server_log}"
                )
                raise RuntimeError(self.error)

        run("mkdir", "-p", sockets)
        run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", ROLE, "--no-sync")
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off"
        )
        run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-w", "-l", log, "start")
        self._stop = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]
        run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", ROLE, DATABASE)
        self.url = f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/{DATABASE}"
        return self.url

    def stop(self) -> None:
        if self._stop is not None:
            subprocess.run(self._stop, capture_output=True, timeout=60, check=False)
            self._stop = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        self.url = None


_server = _Server()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of an empty database on a private PostgreSQL server (skips without one)."""
    try:
        yield _server.start()
    finally:
        with contextlib.suppress(Exception):
            _server.stop()


def migrate_fresh(url: str) -> Any:
    """An empty schema at head on `url`, whatever an earlier test left there; the Alembic
    config, for a test that downgrades at its end."""
    from alembic import command
    from finapp.manage import alembic_config

    config = alembic_config(url)
    config.attributes["skip_logging_config"] = True
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    return config
