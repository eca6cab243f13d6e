"""CSV statements: encoding, delimiter and header detection, then polars for the body.

Only the first lines are looked at in Python (to find the delimiter and the header below any
bank preamble); the body is parsed by polars as strings and typed by the shared pipeline.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections import Counter

import polars as pl

from finapp.services.extraction.columns import (
    HEADER_SCAN_ROWS,
    HeaderMatch,
    find_header,
    missing_columns_message,
)
from finapp.services.extraction.result import ExtractionResult, failed
from finapp.services.extraction.tabular import ROW, cell_column, extract_table, prepare_table

logger = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 256 * 1024
_CHUNK = 1 << 20
_NOT_BLANK = re.compile(rb"[^\s\xef\xbb\xbf]")
_SEP_LINE = re.compile(r"^\s*sep=(.)\s*$", re.IGNORECASE)


def read_csv(data: bytes, *, default_currency: str) -> ExtractionResult:
    """Transactions from a delimited text file."""
    warnings: list[str] = []
    text, note = to_utf8(data)
    if note:
        warnings.append(note)
    if b"\n" not in text and b"\r" in text:
        text = text.replace(b"\r", b"\n")  # classic Mac line endings
    if _NOT_BLANK.search(text) is None:
        return failed("the file is empty", warnings=warnings)

    sample = text[:_SAMPLE_BYTES].decode("utf-8", errors="ignore").removeprefix("\ufeff")
    delimiters: tuple[str, ...] = DELIMITERS
    skipped_lines = 0
    first_line = sample.split("\n", 1)[0]
    if forced := _SEP_LINE.match(first_line):
        # Excel's "sep=;" hint line.
        delimiters = (forced.group(1),)
        skipped_lines = 1
        sample = sample.split("\n", 1)[1] if "\n" in sample else ""

    choice = _choose_dialect(sample, delimiters)
    if choice is None:
        rows = _sample_rows(sample, _most_consistent(sample, delimiters))[0]
        return failed(missing_columns_message(rows), warnings=warnings)
    delimiter, header, header_lines = choice
    header_end = skipped_lines + header_lines  # physical lines up to and including the header

    # One column more than the header: a row that fills it has more fields than the header
    # (typically "1,234.56" unquoted in a comma file) and must be an error, not truncated.
    width = len(header.names) + 1
    schema = {cell_column(i): pl.String for i in range(width)}
    try:
        # polars skips the preamble and header as raw lines, so nothing is copied here.
        frame = pl.read_csv(
            text,
            has_header=False,
            skip_lines=header_end,
            separator=delimiter,
            quote_char='"',
            schema=schema,
            truncate_ragged_lines=True,
            missing_columns="insert",
            extra_columns="ignore",
            raise_if_empty=False,
            # The first data line is the one after the header; numbering follows records (a
            # quoted field spanning lines counts once).
            row_index_name=ROW,
            row_index_offset=header_end + 1,
        )
    except (pl.exceptions.PolarsError, ValueError) as exc:
        logger.info("polars could not parse a CSV body: %s", exc)
        return failed(f"the CSV could not be parsed ({_polars_reason(exc)})", warnings=warnings)
    frame = prepare_table(frame.with_columns(pl.col(ROW).cast(pl.Int64)), header)
    decimal_hint = "," if delimiter == ";" else "."
    return extract_table(
        frame,
        header,
        default_currency=default_currency,
        decimal_hint=decimal_hint,
        warnings=warnings,
    )


def to_utf8(data: bytes) -> tuple[bytes, str | None]:
    """The file as UTF-8 bytes (a UTF-8 BOM is kept: it sits on a skipped line), and a note for
    the user when it was not clean UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16").encode("utf-8"), None
    if _is_utf8(data):
        return data, None
    # A UTF-8 export with a few stray bytes (a pasted cp1252 name) stays UTF-8: decoding it all
    # as cp1252 would garble every accent. Each multi-byte character shortens the text.
    replaced = data.decode("utf-8", errors="replace")
    bad = replaced.count("\ufffd")
    if len(data) - len(replaced) > 10 * bad:
        return replaced.encode("utf-8"), f"{bad} byte(s) that are not valid UTF-8 were replaced"
    del replaced
    # Windows exports are cp1252 (which has "€"); latin-1 decodes anything that is left.
    for encoding, shown in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            return data.decode(encoding).encode("utf-8"), f"the file is not UTF-8; read as {shown}"
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _is_utf8(data: bytes) -> bool:
    """Strict UTF-8 check in chunks, so a large file is never held twice as a str."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    view = memoryview(data)
    try:
        for start in range(0, len(view), _CHUNK):
            decoder.decode(view[start : start + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _polars_reason(exc: BaseException) -> str:
    """polars' parse errors are pages long; the user needs one line."""
    text = str(exc)
    if "not properly escaped" in text:
        return "a quoted field is never closed"
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else type(exc).__name__
    return first if len(first) <= 200 else first[:200] + "…"


def _sample_rows(sample: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    """The first rows of the sample and, for each, the physical line it ends on."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    ends: list[int] = []
    try:
        for row in reader:
            rows.append(row)
            ends.append(reader.line_num)
            if len(rows) >= HEADER_SCAN_ROWS + 20:
                break
    except csv.Error:
        pass  # a quote left open by the sample cut; the rows read so far are enough
    return rows, ends


def _consistency(rows: list[list[str]]) -> tuple[int, int]:
    """How many rows share the most common width (≥ 2 fields), and that width."""
    widths = Counter(len(r) for r in rows if len(r) >= 2)
    if not widths:
        return 0, 0
    width, count = widths.most_common(1)[0]
    return count, width


def _most_consistent(sample: str, delimiters: tuple[str, ...]) -> str:
    return max(delimiters, key=lambda d: _consistency(_sample_rows(sample, d)[0]))


def _choose_dialect(
    sample: str, delimiters: tuple[str, ...]
) -> tuple[str, HeaderMatch, int] | None:
    """The delimiter under which a header row appears, preferring the most regular table."""
    best: tuple[tuple[int, int], str, HeaderMatch, int] | None = None
    for delimiter in delimiters:
        rows, ends = _sample_rows(sample, delimiter)
        header = find_header(rows)
        if header is None:
            continue
        data = rows[header.index + 1 :]
        width = len(header.names)
        regular = sum(1 for r in data if len(r) == width)
        key = (regular, width)
        if best is None or key > best[0]:
            best = (key, delimiter, header, ends[header.index])
    if best is None:
        return None
    return best[1], best[2], best[3]
