"""The one-line run summaries of the batch-jobs page, for every kind of job result (a result
without the aggregation's figures once broke the whole page)."""

from finapp.state.batch_jobs import _result_summary


def test_an_aggregation_result() -> None:
    result = {"files_processed": 1, "transactions": 1_234, "is_valid": True, "errors": []}
    assert _result_summary(result) == "1 file · 1,234 transactions · valid"
    assert _result_summary({**result, "is_valid": False}).endswith("· invalid")


def test_an_email_check_result() -> None:
    result = {"mailboxes": 2, "new_messages": 1, "files": 3, "errors": []}
    assert _result_summary(result) == "2 mailboxes · 1 new message · 3 files"


def test_missing_or_null_figures_and_other_job_types() -> None:
    assert _result_summary({"files_processed": None}) == "0 files · 0 transactions · invalid"
    assert _result_summary({"slept": 0.05, "ok": True, "note": "x"}) == "slept 0.05 · note x"
    assert _result_summary({"rows": [1, 2]}) == ""
