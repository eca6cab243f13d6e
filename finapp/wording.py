"""Counts in words, for the messages people read: "1 file", "2 files"."""


def counted(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
