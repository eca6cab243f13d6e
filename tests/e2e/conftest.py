"""The real app in production mode, started once per test session through the README's run
command, and a headless Chromium (Debian's) driven by Playwright."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
START_TIMEOUT_S = 240
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "e2e-Chief-passphrase-2026"


@dataclass(frozen=True)
class LiveApp:
    base_url: str
    data_dir: Path
    log_path: Path
    username: str = ADMIN_USERNAME
    password: str = ADMIN_PASSWORD


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"app exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
            )
        try:
            page = httpx.get(f"{base_url}/login/", timeout=2)
            health = httpx.get(f"{base_url}/api/health", timeout=2)
            if page.status_code == 200 and "<html" in page.text and health.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"app did not start in {START_TIMEOUT_S}s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """`scripts/run.sh` (what `make run` runs) on a free loopback port with a fresh data dir."""
    data_dir = tmp_path_factory.mktemp("live-data")
    log_path = data_dir.parent / "app.log"
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINAPP_", "DATABASE_URL", "JWT_SECRET_KEY"))
    }
    env.update(
        PORT=str(port),
        FINAPP_HOST="127.0.0.1",
        FINAPP_DATA_DIR=str(data_dir),
        FINAPP_ADMIN_USERNAME=ADMIN_USERNAME,
        FINAPP_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    base_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown stops every child
        )
    try:
        _wait_until_serving(base_url, process, log_path)
        print(f"\nlive app ready in {time.monotonic() - started:.1f}s at {base_url}")
        yield LiveApp(base_url=base_url, data_dir=data_dir, log_path=log_path)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the test command installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, app: LiveApp, password: str | None = None) -> None:
    page.goto(f"{app.base_url}/login")
    page.fill("#username", app.username)
    page.fill("#password", password or app.password)
    page.click("#login-submit")
