"""What the list pages say under their tables."""

from __future__ import annotations


def range_label(page: int, page_size: int, total: int, nothing: str) -> str:
    """'26–50 of 73', or `nothing` when the list is empty."""
    if not total:
        return nothing
    first = page * page_size + 1
    return f"{first}–{min(total, first + page_size - 1)} of {total}"
