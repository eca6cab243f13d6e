"""Integer minor units to text, exactly (no float anywhere)."""

from __future__ import annotations

from finapp.services.extraction.currency import exponent


def format_minor(minor: int, currency: str, *, grouping: bool = False) -> str:
    """-123456, "EUR" -> "-1234.56" (or "-1,234.56" with grouping); JPY has no decimals."""
    places = exponent(currency)
    sign = "-" if minor < 0 else ""
    units, fraction = divmod(abs(int(minor)), 10**places)
    whole = f"{units:,}" if grouping else str(units)
    return f"{sign}{whole}.{fraction:0{places}d}" if places else f"{sign}{whole}"
