from finapp.wording import counted


def test_counted_says_one_thing_and_many_things() -> None:
    assert counted(0, "file") == "0 files"
    assert counted(1, "file") == "1 file"
    assert counted(1_234, "transaction") == "1,234 transactions"
    assert counted(2, "new message") == "2 new messages"
    assert counted(2, "child", "children") == "2 children"
