"""The label under every paginated table."""

from finapp.state.paging import range_label


def test_empty_list_says_so() -> None:
    assert range_label(0, 25, 0, "No files") == "No files"


def test_pages_count_from_one_and_stop_at_the_total() -> None:
    assert range_label(0, 25, 73, "-") == "1–25 of 73"
    assert range_label(1, 25, 73, "-") == "26–50 of 73"
    assert range_label(2, 25, 73, "-") == "51–73 of 73"
