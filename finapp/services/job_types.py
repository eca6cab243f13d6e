"""The registry of batch job types: a new type is one function and one `register` call.

A handler receives a session and the job, and returns a JSON-able result; raising marks the run
failed (and retried per the job's policy). It may write progress lines to `log`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlmodel import Session

from finapp.models import BatchJob
from finapp.services import aggregation
from finapp.wording import counted


class RunLog(Protocol):
    def __call__(self, message: str) -> None: ...


JobHandler = Callable[[Session, BatchJob, RunLog], dict[str, Any]]

_HANDLERS: dict[str, JobHandler] = {}


def register(job_type: str, handler: JobHandler) -> None:
    _HANDLERS[job_type] = handler


def handler_for(job_type: str) -> JobHandler:
    try:
        return _HANDLERS[job_type]
    except KeyError:
        raise LookupError(f"No handler for job type {job_type!r}.") from None


def job_types() -> list[str]:
    return sorted(_HANDLERS)


def run_aggregation(session: Session, job: BatchJob, log: RunLog) -> dict[str, Any]:
    file_ids = job.params.get("file_ids") or None
    log(f"Aggregating project {job.project_id}" + (f" (files {file_ids})" if file_ids else ""))
    report = aggregation.aggregate_project(
        session=session, project_id=job.project_id, file_ids=file_ids
    )
    verdict = "valid" if report["is_valid"] else counted(len(report["errors"]), "problem")
    log(
        f"{counted(report['files_processed'], 'file')}, "
        f"{counted(report['transactions'], 'transaction')}, {verdict}"
    )
    return {
        "files_processed": report["files_processed"],
        "transactions": report["transactions"],
        "is_valid": report["is_valid"],
        "errors": report["errors"][:20],
        "warnings": report["warnings"][:20],
        "totals": report["totals"],
    }


register("aggregation", run_aggregation)


def run_email_check(session: Session, job: BatchJob, log: RunLog) -> dict[str, Any]:
    # Imported here: email ingestion imports the file services, which import this registry's
    # neighbours; keeping it local avoids an import cycle at start.
    from finapp.services.email_ingest import check_all

    # Each message commits on its own unit of work; this run's session stays unused.
    results = check_all()
    for result in results:
        log(
            f"{result.mailbox}: {result.status}"
            + (f" ({result.error})" if result.error else "")
            + f", {result.new_messages} new, {counted(len(result.new_files), 'file')}"
        )
    errors = [f"{r.mailbox}: {r.error}" for r in results if r.status == "error"]
    if errors and len(errors) == len(results):
        raise RuntimeError("; ".join(errors))
    return {
        "mailboxes": len(results),
        "new_messages": sum(r.new_messages for r in results),
        "files": sum(len(r.new_files) for r in results),
        "errors": errors,
    }


register("email_check", run_email_check)
