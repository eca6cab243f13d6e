"""Benchmark: a 1,000,000-row statement through finapp vs the same work done by hand.

    make bench                       # or: .venv/bin/python -m tests.bench.bench_aggregation
    BENCH_ROWS=200000 make bench     # smaller run

finapp's path: store_file -> aggregate_project (extract, dedupe keys, bulk insert, report).
Baseline: polars read + typed parse + polars hash key + sqlite3 executemany INSERT OR IGNORE
into the same migrated table (same unique key) + one GROUP BY (month, category).
Each path runs in its own process so its peak RSS is its own. Also timed: re-aggregating the
already-extracted project (the GROUP BYs alone) and re-importing the same statement.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
TARGET_RATIO = 1.5
TARGET_RSS_MB = 1536


def generate_csv(path: Path, rows: int) -> None:
    import polars as pl

    categories = pl.Series(["Food", "Rent", "Transport", "Utilities", "Salary", "Travel", ""])
    days = pl.date_range(pl.date(2020, 1, 1), pl.date(2026, 12, 31), "1d", eager=True)
    i = pl.col("i")
    frame = pl.DataFrame({"i": pl.int_range(0, rows, eager=True)}).select(
        Date=pl.lit(days).gather(i % days.len()),
        Description=pl.format("Payee {} ref {}", i % 5000, i),
        Category=pl.lit(categories).gather(i % categories.len()),
        Account=pl.format("DE{}", i % 3),
        Amount=pl.format(
            "{}{}.{}",
            pl.when(i % 4 == 0).then(pl.lit("")).otherwise(pl.lit("-")),
            (i * 7919) % 100000,
            ((i * 31) % 100).cast(pl.String).str.zfill(2),
        ),
    )
    frame.write_csv(path)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_finapp(csv_path: Path, data_dir: Path) -> dict:
    os.environ["FINAPP_DATA_DIR"] = str(data_dir)
    os.environ["FINAPP_MAX_FILE_MB"] = "1024"
    from finapp.db import session_scope
    from finapp.manage import migrate
    from finapp.services import aggregation, files

    migrate()
    data = csv_path.read_bytes()
    started = time.perf_counter()
    with session_scope() as session:
        files.store_file(
            session=session, data=data, filename="big.csv", project_id="bench", source="upload"
        )
        stored = time.perf_counter()
        report = aggregation.aggregate_project(session=session, project_id="bench")
    total = time.perf_counter() - started
    del data

    again = time.perf_counter()
    with session_scope() as session:
        aggregation.build_report(session=session, project_id="bench")
    report_only = time.perf_counter() - again

    reimport = time.perf_counter()
    with session_scope() as session:
        files.store_file(
            session=session,
            data=csv_path.read_bytes() + b"\n",
            filename="big-again.csv",
            project_id="bench",
            source="email",
        )
        second = aggregation.aggregate_project(session=session, project_id="bench")
    reimport_s = time.perf_counter() - reimport
    return {
        "seconds": total,
        "store_s": stored - started,
        "report_only_s": report_only,
        "reimport_s": reimport_s,
        "transactions": report["transactions"],
        "after_reimport": second["transactions"],
        "errors": len(report["errors"]),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_baseline(csv_path: Path, data_dir: Path) -> dict:
    import polars as pl

    os.environ["FINAPP_DATA_DIR"] = str(data_dir)
    from finapp.manage import migrate

    migrate()  # the same table, same unique (project_id, dedupe_key)
    database = data_dir / "finapp.db"
    started = time.perf_counter()
    frame = pl.read_csv(csv_path, schema_overrides={"Amount": pl.String})
    amount = pl.col("Amount").str.replace(".", "", literal=True).cast(pl.Int64)
    frame = frame.select(
        pl.lit("bench").alias("project_id"),
        pl.lit(1).alias("file_id"),
        (pl.int_range(pl.len()) + 2).alias("row"),
        pl.col("Account").alias("account"),
        pl.col("Date").cast(pl.String).alias("date"),
        amount.alias("amount_minor"),
        pl.lit("EUR").alias("currency"),
        pl.col("Description").alias("description"),
        pl.col("Category").fill_null("").alias("category"),
        pl.lit(None, dtype=pl.Int64).alias("balance_minor"),
    ).with_columns(
        dedupe_key=pl.concat_str(["account", "date", "amount_minor", "description"])
        .hash()
        .reinterpret(signed=True)
    )
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "INSERT INTO project (id, name, created_at) VALUES ('bench','b','2026-01-01')"
    )
    connection.execute(
        "INSERT INTO stored_file (id, project_id, sha256, size, kind, original_name, safe_name, "
        "source, source_ref, received_at, status, status_detail, transaction_count, "
        "already_imported_count, error_count, issues, warnings) VALUES (1, 'bench', 'x', 0, "
        "'csv', 'b', 'b', 'upload', '', '2026-01-01', 'pending', '', 0, 0, 0, '[]', '[]')"
    )
    columns = ", ".join(frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    sql = f"INSERT OR IGNORE INTO bank_transaction ({columns}) VALUES ({marks})"  # noqa: S608
    for offset in range(0, frame.height, 50_000):
        connection.executemany(sql, frame.slice(offset, 50_000).iter_rows())
    groups = connection.execute(
        "SELECT substr(date, 1, 7), category, SUM(amount_minor), COUNT(*) FROM bank_transaction "
        "WHERE project_id = 'bench' GROUP BY 1, 2"
    ).fetchall()
    connection.commit()
    total = time.perf_counter() - started
    count = connection.execute("SELECT COUNT(*) FROM bank_transaction").fetchone()[0]
    connection.close()
    return {
        "seconds": total,
        "transactions": count,
        "groups": len(groups),
        "peak_rss_mb": peak_rss_mb(),
    }


def measure(which: str, csv_path: Path) -> dict:
    """Run one path in a fresh interpreter and return its JSON figures."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{which}-") as data_dir:
        result = subprocess.run(
            [sys.executable, "-m", "tests.bench.bench_aggregation", which, str(csv_path), data_dir],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as tmp:
        csv_path = Path(tmp) / "statement.csv"
        started = time.perf_counter()
        generate_csv(csv_path, ROWS)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {ROWS:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f}s")
        baseline = measure("baseline", csv_path)
        finapp = measure("finapp", csv_path)
    ratio = finapp["seconds"] / baseline["seconds"]
    print(f"{'path':<10}{'wall s':>10}{'peak RSS MB':>14}{'rows':>12}")
    print(
        f"{'baseline':<10}{baseline['seconds']:>10.1f}{baseline['peak_rss_mb']:>14.0f}"
        f"{baseline['transactions']:>12,}"
    )
    print(
        f"{'finapp':<10}{finapp['seconds']:>10.1f}{finapp['peak_rss_mb']:>14.0f}"
        f"{finapp['transactions']:>12,}"
    )
    print(
        f"ratio finapp/baseline: {ratio:.2f}x (target <= {TARGET_RATIO}x); "
        f"finapp peak RSS {finapp['peak_rss_mb']:.0f} MB (target <= {TARGET_RSS_MB} MB)"
    )
    print(
        f"finapp: store {finapp['store_s']:.1f}s; report alone over {finapp['transactions']:,} "
        f"rows {finapp['report_only_s']:.2f}s; re-import of the same statement "
        f"{finapp['reimport_s']:.1f}s -> {finapp['after_reimport']:,} rows (nothing added)"
    )
    return {"baseline": baseline, "finapp": finapp, "ratio": ratio}


def test_finapp_pipeline_against_hand_written_baseline() -> None:
    figures = main()
    finapp = figures["finapp"]
    assert finapp["transactions"] == ROWS
    assert finapp["after_reimport"] == ROWS
    assert finapp["errors"] == 0


if __name__ == "__main__":
    if len(sys.argv) == 4:
        runner = {"finapp": run_finapp, "baseline": run_baseline}[sys.argv[1]]
        print(json.dumps(runner(Path(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main()
