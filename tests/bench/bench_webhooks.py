"""Benchmark: signed Dropbox notifications into the real app vs a bare Starlette receiver.

    .venv/bin/python -m tests.bench.bench_webhooks            # 30 s per phase
    BENCH_SECONDS=10 .venv/bin/python -m tests.bench.bench_webhooks

Two servers, one after the other, each on its own loopback port and fresh data dir:
- finapp: `scripts/run.sh` (production build, Reflex + granian, as `make run` starts it) with
  DROPBOX_WEBHOOK_SECRET set; every request goes through the rate-limit lookup, HMAC
  verification, the dedupe lookup and one `webhook_event` row, committed before the 200. The
  receivers are answered by finapp.api.fastpath, in front of Reflex's and FastAPI's stacks.
- baseline: a bare Starlette app under granian (same server, same single worker) that checks the
  same HMAC and inserts one row into the same migrated SQLite table, committing per request.

The load generator (in this process) sends valid signed notifications with distinct bodies (so
none is a duplicate) from BENCH_CONCURRENCY (100) concurrent clients, each on its own keep-alive
connection. It speaks HTTP/1.1 on asyncio streams: an httpx.AsyncClient per client costs ~1 ms
of CPU per request and tops out below the baseline's throughput on this machine, so it would
measure itself (BENCH_CLIENT=httpx runs it anyway). Phases:
- saturated: each client sends its next request as soon as the last is answered, for
  BENCH_SECONDS: throughput. Latencies here are mostly queueing (Little's law: 100 in flight at
  N req/s wait about 100/N s each).
- paced: the same 100 clients at a fixed total rate below capacity (BENCH_RATE, default half the
  baseline's saturated throughput, at most 300/s) for BENCH_SECONDS: the latency a provider
  sees. The p99 target (<= 50 ms) is judged here.
- finapp only, framework alone: the same requests to an unknown path under /api/webhooks/ (an
  error from the Reflex + FastAPI stack that the fast path skips; the body is not even read),
  for scale.
Afterwards the stored rows are counted (finapp: via GET /api/webhooks/statistics, with
FINAPP_WEBHOOK_MAX_EVENTS raised so retention prunes nothing; baseline: the table) and compared
with the number of 200 responses.

Client and servers share the machine: on 2 CPUs the client takes one, and anything else running
moves the figures a lot (finapp's worker juggles three threads on one GIL and suffers most).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "100"))
CLIENT = os.environ.get("BENCH_CLIENT", "asyncio")  # or httpx
RATE = float(os.environ.get("BENCH_RATE", "0"))  # paced phase; 0: half the baseline, <= 300/s
WARMUP_S = 3.0
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
SECRET = "bench-dropbox-app-secret"
ADMIN = "bench-admin"
ADMIN_PASSWORD = "bench-Webhooks-passphrase-2026"
PATH = "/api/webhooks/dropbox"
UNKNOWN_PATH = "/api/webhooks/bench-unknown"
START_TIMEOUT_S = 240


# -- the baseline server --------------------------------------------------------------------------


def baseline_app() -> Any:
    """A bare Starlette receiver: the same HMAC, one INSERT into the same table, commit.

    Built by granian in its worker (`--factory`); the database comes from BENCH_BASELINE_DB.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    connection = sqlite3.connect(os.environ["BENCH_BASELINE_DB"], check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    key = os.environ["BENCH_SECRET"].encode()

    async def receive(request: Request) -> Any:
        body = await request.body()
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        signature = request.headers.get("x-dropbox-signature", "")
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return PlainTextResponse("invalid signature", status_code=403)
        sha = hashlib.sha256(body).hexdigest()
        connection.execute(
            "INSERT INTO webhook_event (provider, event_type, status, received_at, verified, "
            "verification, dedupe_key, account, client, headers, body, body_sha256, error) "
            "VALUES ('dropbox', 'notification', 'accepted', datetime('now'), 1, 'signature ok', "
            "?, '', ?, '{}', ?, ?, '')",
            (sha, request.client.host if request.client else "", body.decode(), sha),
        )
        connection.commit()
        return JSONResponse({"status": "accepted"})

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


# -- servers --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINAPP_", "DATABASE_URL", "JWT_SECRET_KEY", "DROPBOX_", "BENCH_"))
    }


def start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops every child
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_until(url: str, process: subprocess.Popen, log_path: Path, ok: tuple[int, ...]) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"server did not start in {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}"
    )


def start_finapp(work: Path) -> tuple[subprocess.Popen, str, Path]:
    data_dir = work / "finapp-data"
    port = free_port()
    env = clean_env()
    env.update(
        PORT=str(port),
        FINAPP_HOST="127.0.0.1",
        FINAPP_DATA_DIR=str(data_dir),
        FINAPP_ADMIN_USERNAME=ADMIN,
        FINAPP_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DROPBOX_WEBHOOK_SECRET=SECRET,
        # Retention would prune past 100,000 rows mid-run and spoil the stored == 200s check.
        FINAPP_WEBHOOK_MAX_EVENTS="100000000",
    )
    log_path = work / "finapp.log"
    process = start([str(ROOT / "scripts" / "run.sh")], env, log_path)
    base_url = f"http://127.0.0.1:{port}"
    wait_until(f"{base_url}/api/health", process, log_path, ok=(200,))
    return process, base_url, data_dir


def start_baseline(work: Path) -> tuple[subprocess.Popen, str, Path]:
    """granian with one worker, like the app's production server (Reflex without Redis)."""
    data_dir = work / "baseline-data"
    env = clean_env()
    env["FINAPP_DATA_DIR"] = str(data_dir)
    subprocess.run(
        [sys.executable, "-m", "finapp.manage", "migrate"], cwd=ROOT, env=env, check=True
    )  # the same table and indexes as finapp's
    database = data_dir / "finapp.db"
    port = free_port()
    env.update(BENCH_BASELINE_DB=str(database), BENCH_SECRET=SECRET)
    log_path = work / "baseline.log"
    granian = Path(sys.executable).with_name("granian")
    process = start(
        [
            str(granian),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--log-level",
            "warning",
            "--factory",
            "tests.bench.bench_webhooks:baseline_app",
        ],
        env,
        log_path,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_until(f"{base_url}{PATH}", process, log_path, ok=(405,))
    return process, base_url, database


# -- load -----------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add_status(self, code: int) -> None:
        self.statuses[code] = self.statuses.get(code, 0) + 1

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0

        return {
            "requests": len(ordered),
            "ok": self.ok,
            "statuses": self.statuses,
            "errors": self.errors,
            "rps": len(ordered) / self.seconds if self.seconds else 0.0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": ordered[-1] if ordered else 0.0,
            "mean_ms": statistics.fmean(ordered) if ordered else 0.0,
        }


def signed(client: int, n: int, phase: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"list_folder": {"accounts": [f"dbid:bench-{phase}-{client}-{n}"]}, "delta": {"users": [n]}}
    ).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Dropbox-Signature": signature}


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the request bytes out, the status
    and body back. Lean on purpose (~10x cheaper per request than httpx, which would otherwise be
    what this benchmark measures)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            length, chunked = 0, False
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                    await self.reader.readexactly(size + 2)
                await self.reader.readuntil(b"\r\n")
            else:
                await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        return int(status_line.split()[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def generate(
    base_url: str, seconds: float, phase: str, rate: float | None, path: str
) -> Tally:
    """`CONCURRENCY` clients for `seconds`: back to back, or together at `rate` requests/s.

    Each client has its own keep-alive connection. BENCH_CLIENT=httpx uses one
    httpx.AsyncClient per client instead (slower: at 100 clients it is the bottleneck).
    """
    import httpx

    tally = Tally()
    started = time.perf_counter()
    deadline = started + seconds
    interval = CONCURRENCY / rate if rate else 0.0
    host, port = base_url.removeprefix("http://").rsplit(":", 1)

    async def client(index: int) -> None:
        n = 0
        next_at = started + (interval * index / CONCURRENCY)
        if CLIENT == "httpx":
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            http = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30)

            async def post(body: bytes, headers: dict[str, str]) -> int:
                return (await http.post(path, content=body, headers=headers)).status_code

            close: Any = http.aclose
        else:
            connection = _Connection(host, int(port))
            post = functools.partial(connection.post, path)

            async def close() -> None:
                connection.close()

        try:
            while True:
                if interval:
                    next_at += interval
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if time.perf_counter() >= deadline:
                    return
                body, headers = signed(index, n, phase)
                n += 1
                sent = time.perf_counter()
                try:
                    status = await asyncio.wait_for(post(body, headers), timeout=30)
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    name = type(exc).__name__
                    tally.errors[name] = tally.errors.get(name, 0) + 1
                    continue
                tally.latencies_ms.append((time.perf_counter() - sent) * 1000)
                tally.add_status(status)
        finally:
            await close()

    await asyncio.gather(*(client(i) for i in range(CONCURRENCY)))
    tally.seconds = time.perf_counter() - started
    return tally


def load(
    base_url: str, seconds: float, phase: str, rate: float | None = None, path: str = PATH
) -> Tally:
    return asyncio.run(generate(base_url, seconds, phase, rate, path))


def finapp_counts(base_url: str) -> dict[str, int]:
    import httpx

    token = httpx.post(
        f"{base_url}/api/auth/token",
        data={"username": ADMIN, "password": ADMIN_PASSWORD},
        timeout=30,
    ).json()["access_token"]
    stats = httpx.get(
        f"{base_url}/api/webhooks/statistics",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    ).json()
    return stats["by_status"]


def baseline_count(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT COUNT(*) FROM webhook_event").fetchone()[0]


def measure_server(which: str, work: Path, paced_rate: float | None) -> dict[str, Any]:
    started = time.perf_counter()
    if which == "finapp":
        process, base_url, where = start_finapp(work)
    else:
        process, base_url, where = start_baseline(work)
    start_s = time.perf_counter() - started
    framework: dict[str, Any] | None = None
    try:
        warmup = load(base_url, WARMUP_S, "warmup")
        saturated = load(base_url, SECONDS, "saturated")
        rate = paced_rate or RATE or min(300.0, 0.5 * saturated.summary()["rps"])
        paced = load(base_url, SECONDS, "paced", rate=rate)
        if which == "finapp":
            framework = load(base_url, min(SECONDS, 10.0), "404", path=UNKNOWN_PATH).summary()
            counts = finapp_counts(base_url)
            stored = counts.get("accepted", 0)
            others = {k: v for k, v in counts.items() if k != "accepted" and v}
        else:
            stored, others = baseline_count(where), {}
    except Exception:
        log = work / f"{which}.log"
        if log.exists():
            print(f"--- last lines of {log.name}:\n{log.read_text()[-3000:]}")
        raise
    finally:
        stop(process)
    return {
        "start_s": start_s,
        "saturated": saturated.summary(),
        "paced": {**paced.summary(), "rate": rate},
        "framework": framework,
        "responses_200": warmup.ok + saturated.ok + paced.ok,
        "stored": stored,
        "other_rows": others,
    }


def main() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        print(
            f"{CONCURRENCY} concurrent clients ({CLIENT}), {SECONDS:.0f} s per phase "
            f"(+{WARMUP_S:.0f} s warm-up), loopback only, {os.cpu_count()} CPUs"
        )
        baseline = measure_server("baseline", work, None)
        print(f"baseline done: {baseline['saturated']['rps']:.0f} req/s saturated")
        finapp = measure_server("finapp", work, baseline["paced"]["rate"])
        print(f"finapp done (app start {finapp['start_s']:.0f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = finapp["saturated"]["rps"] / baseline["saturated"]["rps"]
    framework = finapp["framework"]
    rate = baseline["paced"]["rate"]
    rows = [
        ("", "baseline", "finapp"),
        ("saturated: req/s", *(f"{r['saturated']['rps']:.0f}" for r in (baseline, finapp))),
        ("  p50 / p99 ms", *(_pair(r["saturated"]) for r in (baseline, finapp))),
        (
            f"paced at {rate:.0f} req/s: achieved",
            *(f"{r['paced']['rps']:.0f}" for r in (baseline, finapp)),
        ),
        ("  p50 / p99 ms", *(_pair(r["paced"]) for r in (baseline, finapp))),
        ("  max ms", *(f"{r['paced']['max_ms']:.1f}" for r in (baseline, finapp))),
        ("framework alone (unknown path): req/s", "", f"{framework['rps']:.0f}"),
        ("200 responses (all phases)", *(str(r["responses_200"]) for r in (baseline, finapp))),
        ("rows stored", *(str(r["stored"]) for r in (baseline, finapp))),
        ("non-200 / client errors", *(_problems(r) for r in (baseline, finapp))),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print()
    for name, left, right in rows:
        print(f"{name:<{width}}{left:>16}{right:>16}")
    p99 = finapp["paced"]["p99_ms"]
    print(
        f"\nthroughput finapp/baseline: {ratio:.2f}x (target >= {TARGET_RATIO}x) "
        f"{'ok' if ratio >= TARGET_RATIO else 'MISSED'}; the framework alone reaches "
        f"{framework['rps'] / baseline['saturated']['rps']:.2f}x\n"
        f"finapp p99 at {rate:.0f} req/s: {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms) "
        f"{'ok' if p99 <= TARGET_P99_MS else 'MISSED'}; saturated p99 "
        f"{finapp['saturated']['p99_ms']:.1f} ms\n"
        f"rows stored == 200 responses: {finapp['stored'] == finapp['responses_200']}"
        + (f" (other rows: {finapp['other_rows']})" if finapp["other_rows"] else "")
    )
    return {"baseline": baseline, "finapp": finapp, "ratio": ratio}


def _pair(summary: dict[str, Any]) -> str:
    return f"{summary['p50_ms']:.1f} / {summary['p99_ms']:.1f}"


def _problems(result: dict[str, Any]) -> str:
    bad = 0
    for phase in ("saturated", "paced"):
        bad += sum(n for code, n in result[phase]["statuses"].items() if code != 200)
        bad += sum(result[phase]["errors"].values())
    return str(bad)


def test_webhook_receiver_against_bare_starlette() -> None:
    figures = main()
    finapp = figures["finapp"]
    assert finapp["stored"] == finapp["responses_200"]  # every 200 is a stored row
    assert finapp["other_rows"] == {}  # distinct bodies: no duplicates, nothing rejected
    assert _problems(finapp) == "0"


if __name__ == "__main__":
    main()
