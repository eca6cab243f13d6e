"""Real scheduler processes (`tests.processes.scheduler_runner`) on one database.

Each runner is its own process group (start_new_session) so teardown can kill it and anything it
started; every runner a test starts is stopped when the test ends, passed or not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from finapp.services import job_types
from tests.processes.scheduler_runner import TEST_JOB_TYPES

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


class Runner:
    """One `python -m tests.processes.scheduler_runner` process and what it printed."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.processes.scheduler_runner"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.lines: list[str] = []
        self.active: bool | None = None  # None until the runner printed its first state
        self.active_since: float | None = None
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.strip()
            with self._changed:
                self.lines.append(line)
                if line.startswith("READY "):
                    self.active = line.endswith("active=True")
                    self.active_since = time.monotonic() if self.active else None
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[Runner], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"runner {self.pid}: {what} not within {timeout} s\n{self}"
                    )
                if self.process.poll() is not None and not predicate(self):
                    raise AssertionError(f"runner {self.pid} exited while waiting: {what}\n{self}")
                self._changed.wait(min(left, 0.2))

    def wait_started(self, timeout: float = START_TIMEOUT_S) -> None:
        self.wait_for(lambda r: r.active is not None, timeout, "first READY line")

    def wait_active(self, timeout: float = START_TIMEOUT_S) -> None:
        self.wait_for(lambda r: r.active is True, timeout, "READY active=True")

    def kill(self) -> None:
        """SIGKILL the whole process group and reap it (a zombie would still look alive)."""
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __str__(self) -> str:
        log = self.log_path.read_text()[-3000:] if self.log_path.exists() else ""
        return f"stdout: {self.lines}\nstderr tail:\n{log}"


StartRunner = Callable[..., Runner]


@pytest.fixture
def start_runner(tmp_path: Path) -> Iterator[StartRunner]:
    """Start a runner with this test's environment (FINAPP_DATA_DIR, DATABASE_URL, …) plus
    `extra` variables; all are stopped at teardown."""
    runners: list[Runner] = []

    def start(**extra: str) -> Runner:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
        runner = Runner(env, tmp_path / f"runner-{len(runners)}.log")
        runners.append(runner)
        return runner

    yield start
    for runner in runners:
        try:
            runner.stop()
        except Exception:
            runner.kill()


@pytest.fixture
def test_job_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runners' job types, known to this process too (create_job validates the type)."""
    for name, handler in TEST_JOB_TYPES.items():
        monkeypatch.setitem(job_types._HANDLERS, name, handler)
