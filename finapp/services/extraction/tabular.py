"""The value pipeline shared by CSV, Excel and PDF tables: a frame of strings in, typed rows out.

Readers hand over a polars frame whose cell columns are named ``c0``, ``c1``… (all String), a
``__row`` column with the row number the user sees and, for PDFs, a ``__where`` column ("page 2")
that prefixes error messages. Everything is vectorised: decisions that need the whole file
(decimal mark, date format) are taken once from all values, never row by row, and error
messages are only built for the rows that failed.

Excel cells that are already typed arrive marked: ``NATIVE_DATE`` + ISO date, or
``NATIVE_NUMBER`` + a plain decimal such as ``-1234.5``. Those bypass the file-level guesses and
native numbers are rounded half-even to the currency (binary floats carry noise digits), whereas
typed-in text with too many decimals is an error.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import polars as pl

from finapp.services.extraction.columns import HeaderMatch
from finapp.services.extraction.currency import EXPONENTS, ISO_CODES, SYMBOLS
from finapp.services.extraction.result import ROW_SCHEMA, ExtractionResult, RowError, empty_rows

logger = logging.getLogger(__name__)

NATIVE_DATE = "\x01"
NATIVE_NUMBER = "\x02"
ROW = "__row"
WHERE = "__where"
EXTRA = "__extra"  # cells beyond the header's width, when the reader keeps them

# An amount cell: optional sign or "(", a currency code or symbol before or after the number, a
# trailing minus or ")", or a CR/DR suffix as on UK statements. Checked with a capture-free
# regex (fast DFA); the parts are then taken apart with cheap character-class operations.
_SYM = "[" + "".join(SYMBOLS) + "]"
_SIGN = r"[-+(\x{2212}]?"
_NUMBER_CHARS = r"\d.,'’\s"
_AMOUNT_SHAPE = (
    rf"^{_SIGN}\s*(?:[A-Z]{{3}}|{_SYM})?\s*{_SIGN}\s*(?:\d[{_NUMBER_CHARS}]*|[.,]\d+)"
    rf"[-)]?\s*(?:[A-Z]{{3}}|{_SYM})?\s*[-)]?\s*(?:[CD][Rr])?$"
)
_TWO_MARKERS = r"[-+(\x{2212}].*(?:[-+(\x{2212}]|[CD][Rr]$)"
_NEGATIVE = r"[-(\x{2212}]|DR$|Dr$"
_TOKEN = rf"([A-Z]{{3}}|{_SYM})"
# Decimal-mark evidence in a number part: "1,234.56", "12.5", "0.125", "1,234,567" vote for
# "."; the mirror images vote for ","; "1.234" or "1,234" alone is ambiguous.
_DOT_EVIDENCE = r"^[\d,'’\s]*\.\d+$|^[^.]*,[^.]*,[^.]*$"
_COMMA_EVIDENCE = r"^[\d.'’\s]*,\d+$|^[^,]*\.[^,]*\.[^,]*$"
_AMBIGUOUS = r"^[1-9]\d{0,2}[.,]\d{3}$"
_THOUSANDS = {".": r",'’\s", ",": r"\.'’\s"}
_DEBIT_FLAGS = ["af", "d", "db", "dr", "debit", "debet", "s", "soll", "-", "out"]
_CREDIT_FLAGS = ["bij", "c", "cr", "credit", "h", "haben", "+", "in"]
_MAX_DIGITS = 18  # every 18-digit integer fits an Int64


@dataclass(frozen=True)
class _DateFormat:
    shape: str  # regex the cleaned value must match (keeps %Y from accepting "24")
    fmt: str  # strptime format
    label: str  # how the format is shown to the user
    twin: str | None = None  # the day/month-swapped format with the same shape
    month_names: bool = False


# Order breaks ties: day-first before month-first when both read every value.
_DATE_FORMATS = [
    _DateFormat(r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d", "yyyy-mm-dd"),
    _DateFormat(r"^\d{4}/\d{1,2}/\d{1,2}$", "%Y/%m/%d", "yyyy/mm/dd"),
    _DateFormat(r"^\d{4}\.\d{1,2}\.\d{1,2}$", "%Y.%m.%d", "yyyy.mm.dd"),
    _DateFormat(r"^\d{1,2}\.\d{1,2}\.\d{4}$", "%d.%m.%Y", "dd.mm.yyyy"),
    _DateFormat(r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y", "dd/mm/yyyy", twin="%m/%d/%Y"),
    _DateFormat(r"^\d{1,2}/\d{1,2}/\d{4}$", "%m/%d/%Y", "mm/dd/yyyy", twin="%d/%m/%Y"),
    _DateFormat(r"^\d{1,2}-\d{1,2}-\d{4}$", "%d-%m-%Y", "dd-mm-yyyy", twin="%m-%d-%Y"),
    _DateFormat(r"^\d{1,2}-\d{1,2}-\d{4}$", "%m-%d-%Y", "mm-dd-yyyy", twin="%d-%m-%Y"),
    _DateFormat(r"^\d{1,2}\.\d{1,2}\.\d{2}$", "%d.%m.%y", "dd.mm.yy"),
    _DateFormat(r"^\d{1,2}/\d{1,2}/\d{2}$", "%d/%m/%y", "dd/mm/yy", twin="%m/%d/%y"),
    _DateFormat(r"^\d{1,2}/\d{1,2}/\d{2}$", "%m/%d/%y", "mm/dd/yy", twin="%d/%m/%y"),
    _DateFormat(r"^\d{1,2}-\d{1,2}-\d{2}$", "%d-%m-%y", "dd-mm-yy", twin="%m-%d-%y"),
    _DateFormat(r"^\d{1,2}-\d{1,2}-\d{2}$", "%m-%d-%y", "mm-dd-yy", twin="%d-%m-%y"),
    _DateFormat(r"^\d{8}$", "%Y%m%d", "yyyymmdd"),
    _DateFormat(r"^\d{1,2} [A-Za-z]{3,} \d{4}$", "%d %B %Y", "dd Mon yyyy", month_names=True),
    _DateFormat(r"^\d{1,2} [A-Za-z]{3,} \d{2}$", "%d %B %y", "dd Mon yy", month_names=True),
    _DateFormat(r"^[A-Za-z]{3,} \d{1,2} \d{4}$", "%B %d %Y", "Mon dd, yyyy", month_names=True),
]
_SHAPES = {f.fmt: re.compile(f.shape) for f in _DATE_FORMATS}
# "2024-01-05 10:30:00", "05/01/2024 10:30", "2024-01-05T10:30:00Z": the time is not kept.
_TIME_SUFFIX = (
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp][Mm])?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?)$"
)


def cell_column(index: int) -> str:
    """Name of the frame column holding the index-th cell of a row."""
    return f"c{index}"


@dataclass
class _Check:
    """A reason a row is rejected: a cheap flag for every row, a message for flagged rows."""

    flag: pl.Expr
    message: pl.Expr

    def __post_init__(self) -> None:
        # A null flag would make the row neither good nor bad, i.e. silently dropped.
        self.flag = self.flag.fill_null(False)


def prepare_table(frame: pl.DataFrame, header: HeaderMatch) -> pl.DataFrame:
    """Drop blank rows and keep only the recognised columns, named by role, stripped.

    Readers rebind their frame to the result (``frame = prepare_table(frame, header)``) so the
    full-width frame is freed before the heavy work starts.
    """
    cells = [c for c in frame.columns if not c.startswith("__")]
    blank = pl.all_horizontal(
        [pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in cells]
    )
    keep = [ROW] + ([WHERE] if WHERE in frame.columns else [])
    extra = cell_column(len(header.names))
    if extra in frame.columns:
        keep.append(pl.col(extra).fill_null("").str.strip_chars().alias(EXTRA))
    money = set(header.money_roles)

    def cell(role: str, index: int) -> pl.Expr:
        value = pl.col(cell_column(index)).fill_null("").str.strip_chars()
        if role in money:
            # "-" or "–" is how some banks print an empty debit or credit cell.
            value = pl.when(value.str.contains(r"^[-–—]$")).then(pl.lit("")).otherwise(value)
        return value.alias(role)

    return (
        frame.lazy()
        .filter(~blank)
        .select(*keep, *(cell(role, i) for role, i in header.columns.items()))
        .collect()
    )


def extract_table(
    w: pl.DataFrame,
    header: HeaderMatch,
    *,
    default_currency: str,
    decimal_hint: str = ".",
    native: bool = False,
    warnings: list[str] | None = None,
) -> ExtractionResult:
    """Typed transactions from a frame made by `prepare_table`."""
    warnings = list(warnings or [])
    if w.height == 0:
        warnings.append("the table has a header but no transactions")
        return ExtractionResult(rows=empty_rows(), warnings=warnings)

    roles = set(header.columns)
    money = header.money_roles

    # Money: structure, sign and currency token from the raw cell; digits from the number part.
    # Most files never put a currency in the amount: skip that extraction when none does.
    tokens = w.select(pl.col(r).str.contains(_TOKEN).any() for r in money).row(0, named=True)
    w = w.with_columns(e for role in money for e in _money_first(role, native, tokens[role]))
    mark, warning = _decide_decimal(w, money, decimal_hint, native)
    if warning:
        warnings.append(warning)
    w = w.with_columns(e for role in money for e in _money_second(role, mark, native))
    w = w.drop(f"{role}__{part}" for role in money for part in ("shape", "body"))

    # Currency per row: currency column, else a code or symbol in the amount, else the header's
    # "(EUR)", else the caller's default.
    amount_roles = [r for r in ("amount", "debit", "credit") if r in roles]
    token = pl.coalesce([pl.col(f"{r}__token") for r in amount_roles])
    token_code = token.replace(SYMBOLS)
    header_code = next((header.currencies[r] for r in amount_roles if r in header.currencies), None)
    column_code = pl.lit(None, dtype=pl.String)
    if "currency" in roles:
        cleaned = pl.col("currency").str.to_uppercase().replace(SYMBOLS)
        column_code = pl.when(cleaned.is_in(ISO_CODES)).then(cleaned)
    w = w.with_columns(
        column_code.alias("__column_ccy"),
        token.alias("__token"),
        pl.coalesce(
            column_code,
            pl.when(token_code.is_in(ISO_CODES)).then(token_code),
            pl.lit(header_code, dtype=pl.String),
            pl.lit(default_currency),
        ).alias("__ccy"),
    )
    w = w.with_columns(
        pl.col("__ccy").replace_strict(EXPONENTS, default=2, return_dtype=pl.Int64).alias("__exp")
    )
    w = w.with_columns(e for role in money for e in _money_minor(role, native))
    w = w.drop(f"{role}__{part}" for role in money for part in ("digits", "decimals", "neg"))
    if native:
        w = w.drop(f"{role}__native" for role in money)

    date_map, date_label, date_warning = _parse_dates(w.get_column("date"), native)
    if date_warning:
        warnings.append(date_warning)
    w = w.with_columns(
        pl.col("date").replace_strict(*date_map, default=None, return_dtype=pl.Date).alias("__date")
    )

    amount, checks = _amount(roles)
    w = w.with_columns(amount.alias("__amount"))
    checks = [*_date_checks(date_label), *_currency_checks(roles), *checks]
    if EXTRA in w.columns:
        checks.insert(
            0,
            _Check(
                pl.col(EXTRA) != "",
                pl.lit("the row has more fields than the header (an unquoted separator?)"),
            ),
        )
    # Belt and braces: a row without a date or an amount is never kept, whatever the checks say.
    unread = pl.col("__date").is_null() | pl.col("__amount").is_null()
    w = w.with_columns((pl.any_horizontal([c.flag for c in checks]) | unread).alias("__bad"))

    errors = _row_errors(w.filter(pl.col("__bad")), checks)
    good = w.filter(~pl.col("__bad"))
    del w
    if "balance" in roles:
        warning = _balance_warning(good)
        if warning:
            warnings.append(warning)

    rows = good.select(
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.col("__date").alias("date"),
        pl.col("__amount").alias("amount_minor"),
        pl.col("__ccy").alias("currency"),
        _description(roles).alias("description"),
        _text(roles, "category").alias("category"),
        _text(roles, "account").alias("account"),
        (
            pl.when(~pl.col("balance__bad")).then(pl.col("balance__minor"))
            if "balance" in roles
            else pl.lit(None, dtype=pl.Int64)
        ).alias("balance_minor"),
        (
            pl.when(pl.col("external_id") != "").then(_plain(pl.col("external_id")))
            if "external_id" in roles
            else pl.lit(None, dtype=pl.String)
        ).alias("external_id"),
    ).cast(ROW_SCHEMA)
    return ExtractionResult(rows=rows, errors=errors, warnings=warnings)


def _row_errors(bad: pl.DataFrame, checks: list[_Check]) -> list[RowError]:
    """Messages for the rejected rows only (building them for every row would cost seconds)."""
    if bad.height == 0:
        return []
    parts = [pl.when(c.flag).then(c.message) for c in checks]
    message = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    message = pl.when(message.fill_null("") == "").then(pl.lit("unreadable row")).otherwise(message)
    if WHERE in bad.columns:
        message = pl.concat_str(pl.col(WHERE), pl.lit(": "), message)
    return [
        RowError(row=row, message=text)
        for row, text in bad.select(pl.col(ROW), message.alias("m")).iter_rows()
    ]


def _balance_warning(good: pl.DataFrame) -> str | None:
    """A balance that cannot be read does not reject the transaction; it is left empty."""
    unread = good.filter(pl.col("balance__bad")).get_column(ROW).to_list()
    if not unread:
        return None
    shown = ", ".join(str(r) for r in unread[:10]) + (", …" if len(unread) > 10 else "")
    return f"the balance could not be read on {len(unread)} row(s) ({shown}); left empty"


def _plain(expr: pl.Expr) -> pl.Expr:
    """A cell as text, without the native-cell marker."""
    return expr.str.strip_chars_start(NATIVE_DATE + NATIVE_NUMBER)


def _quoted(role: str) -> pl.Expr:
    """A cell as quoted in an error message: marker-free, bounded, in quotes."""
    return pl.concat_str(pl.lit("'"), _plain(pl.col(role)).str.slice(0, 60), pl.lit("'"))


def _text(roles: set[str], role: str) -> pl.Expr:
    return _plain(pl.col(role)) if role in roles else pl.lit("")


def _description(roles: set[str]) -> pl.Expr:
    """The description, falling back to the payee on rows (or files) without one."""
    description = _text(roles, "description")
    payee = _text(roles, "payee")
    return pl.when(description != "").then(description).otherwise(payee)


def _is_native(role: str, native: bool) -> pl.Expr:
    """Whether the cell is a typed Excel number (a constant False for text-only readers)."""
    return pl.col(f"{role}__native") if native else pl.lit(False)


def _money_first(role: str, native: bool, has_token: bool) -> list[pl.Expr]:
    """Shape, sign, currency token and number part of a money cell."""
    raw = pl.col(role)
    text = raw.str.strip_chars_start(NATIVE_NUMBER) if native else raw
    paren_open = text.str.contains("(", literal=True)
    paren_close = text.str.contains(")", literal=True)
    # "(12.50)" is one marker written twice; "-(12.50)" or "12.50- CR" contradict themselves.
    ok = (
        text.str.contains(_AMOUNT_SHAPE)
        & ~text.str.contains(_TWO_MARKERS)
        & (paren_open == paren_close)
    )
    token = text.str.extract(_TOKEN) if has_token else pl.lit(None, dtype=pl.String)
    exprs = [
        ok.alias(f"{role}__shape"),
        text.str.contains(_NEGATIVE).alias(f"{role}__neg"),
        token.alias(f"{role}__token"),
        # Once the shape is right, whatever is not a digit or separator is sign or currency.
        text.str.replace_all(rf"[^{_NUMBER_CHARS}]", "").str.strip_chars().alias(f"{role}__body"),
    ]
    if native:
        exprs.append(raw.str.starts_with(NATIVE_NUMBER).alias(f"{role}__native"))
    return exprs


def _money_second(role: str, mark: str, native: bool) -> list[pl.Expr]:
    """Validity under the file's decimal mark, all digits, and the count of decimals."""
    body = pl.col(f"{role}__body")

    def read(dec: str) -> tuple[pl.Expr, pl.Expr]:
        d, t = "\\" + dec, _THOUSANDS[dec]
        # Thousands groups of 3, or Indian lakh/crore groups (1,00,000), or no grouping.
        valid = body.str.contains(
            rf"^(?:\d{{1,3}}(?:[{t}]\d{{3}})+|\d{{1,2}}(?:[{t}]\d{{2}})+[{t}]\d{{3}}|\d+)"
            rf"(?:{d}\d*)?$|^{d}\d+$"
        )
        # Valid bodies hold at most one decimal mark, followed by digits only (ASCII), so a
        # byte offset gives the number of decimals.
        position = body.str.find(dec, literal=True)
        decimals = (
            pl.when(position.is_null())
            .then(pl.lit(0, dtype=pl.Int64))
            .otherwise(body.str.len_bytes().cast(pl.Int64) - position.cast(pl.Int64) - 1)
        )
        return valid, decimals

    valid, decimals = read(mark)
    if native and mark != ".":
        native_valid, native_decimals = read(".")
        is_native = _is_native(role, native)
        valid = pl.when(is_native).then(native_valid).otherwise(valid)
        decimals = pl.when(is_native).then(native_decimals).otherwise(decimals)
    filled = pl.col(role) != ""
    return [
        (filled & pl.col(f"{role}__shape") & valid).alias(f"{role}__ok"),
        body.str.replace_all(r"\D", "").alias(f"{role}__digits"),
        decimals.alias(f"{role}__decimals"),
    ]


def _money_minor(role: str, native: bool) -> list[pl.Expr]:
    """Signed minor units, exactly, by integer arithmetic on the digits.

    digits "123456" with 2 decimals is 1234.56; in a 2-decimal currency that is 123456 minor
    units, in a 0-decimal one it has 2 decimals too many (an error, or rounded half-even for a
    native Excel number).
    """
    digits = pl.col(f"{role}__digits")
    n = pl.when(digits.str.len_bytes() <= _MAX_DIGITS).then(digits.cast(pl.Int64, strict=False))
    shift = pl.col("__exp") - pl.col(f"{role}__decimals")
    ten = pl.lit(10, dtype=pl.Int64)
    grown = pl.when(digits.str.len_bytes().cast(pl.Int64) + shift <= _MAX_DIGITS).then(
        n * ten.pow(shift.clip(0, _MAX_DIGITS))
    )
    divisor = ten.pow((-shift).clip(0, _MAX_DIGITS))
    quotient = n // divisor
    remainder = n % divisor
    excess = (shift < 0) & (remainder != 0)
    value = pl.when(shift >= 0).then(grown).otherwise(quotient)
    if native:
        # Round half to even, as Decimal.quantize would.
        up = (
            (shift < 0)
            & (-shift <= _MAX_DIGITS)
            & ((remainder * 2 > divisor) | ((remainder * 2 == divisor) & (quotient % 2 == 1)))
        )
        is_native = _is_native(role, native)
        value = pl.when(is_native & up).then(value + 1).otherwise(value)
        excess = excess & ~is_native
    ok = pl.col(f"{role}__ok")
    excess = ok & excess.fill_null(False)
    huge = ok & ~excess & value.is_null()
    return [
        pl.when(ok & ~excess)
        .then(pl.when(pl.col(f"{role}__neg")).then(-value).otherwise(value))
        .alias(f"{role}__minor"),
        excess.alias(f"{role}__excess"),
        huge.alias(f"{role}__huge"),
        ((pl.col(role) != "") & (~ok | excess | huge)).alias(f"{role}__bad"),
    ]


def _money_checks(role: str, word: str) -> list[_Check]:
    """Why a filled money cell could not be read."""
    filled = pl.col(role) != ""
    return [
        _Check(
            filled & ~pl.col(f"{role}__ok"),
            pl.concat_str(pl.lit(f"unparseable {word} "), _quoted(role)),
        ),
        _Check(
            pl.col(f"{role}__excess"),
            pl.concat_str(
                pl.lit(f"{word} "),
                _quoted(role),
                pl.lit(" has more decimals than "),
                pl.col("__ccy"),
                pl.lit(" allows ("),
                pl.col("__exp").cast(pl.String),
                pl.lit(")"),
            ),
        ),
        _Check(
            pl.col(f"{role}__huge"),
            pl.concat_str(pl.lit(f"{word} "), _quoted(role), pl.lit(" is too large")),
        ),
    ]


def _amount(roles: set[str]) -> tuple[pl.Expr, list[_Check]]:
    """The signed amount in minor units, and the checks a row must pass to have one."""
    if "amount" in roles:
        value = pl.col("amount__minor")
        checks = [
            _Check(pl.col("amount") == "", pl.lit("missing amount")),
            *_money_checks("amount", "amount"),
        ]
        if "sign" in roles:
            flag = pl.col("sign").str.to_lowercase()
            value = (
                pl.when(flag.is_in(_DEBIT_FLAGS))
                .then(-value.abs())
                .when(flag.is_in(_CREDIT_FLAGS))
                .then(value.abs())
                .otherwise(value)
            )
            checks.append(
                _Check(
                    (flag != "") & ~flag.is_in(_DEBIT_FLAGS) & ~flag.is_in(_CREDIT_FLAGS),
                    pl.concat_str(pl.lit("unknown debit/credit flag "), _quoted("sign")),
                )
            )
        return value, checks

    debit_filled = credit_filled = pl.lit(False)
    debit = credit = pl.lit(0, dtype=pl.Int64)
    checks = []
    if "debit" in roles:
        debit = pl.col("debit__minor").abs()
        debit_filled = pl.col("debit") != ""
        checks.extend(_money_checks("debit", "debit"))
    if "credit" in roles:
        credit = pl.col("credit__minor").abs()
        credit_filled = pl.col("credit") != ""
        checks.extend(_money_checks("credit", "credit"))
    # A 0.00 in the unused column is common; only two non-zero values contradict each other.
    debit_used = debit_filled & (debit != 0).fill_null(True)
    credit_used = credit_filled & (credit != 0).fill_null(True)
    shown = {r: _quoted(r) if r in roles else pl.lit("''") for r in ("debit", "credit")}
    checks[:0] = [
        _Check(
            ~debit_filled & ~credit_filled,
            pl.lit("missing amount (debit and credit are empty)"),
        ),
        _Check(
            debit_used & credit_used,
            pl.concat_str(
                pl.lit("both debit "),
                shown["debit"],
                pl.lit(" and credit "),
                shown["credit"],
                pl.lit(" are filled"),
            ),
        ),
    ]
    value = (
        pl.when(debit_used)
        .then(-debit)
        .when(credit_used)
        .then(credit)
        .otherwise(pl.lit(0, dtype=pl.Int64))
    )
    return value, checks


def _date_checks(label: str | None) -> list[_Check]:
    expected = f" (expected {label})" if label else ""
    return [
        _Check(pl.col("date") == "", pl.lit("missing date")),
        _Check(
            (pl.col("date") != "") & pl.col("__date").is_null(),
            pl.concat_str(pl.lit("unparseable date "), _quoted("date"), pl.lit(expected)),
        ),
    ]


def _currency_checks(roles: set[str]) -> list[_Check]:
    token = pl.col("__token")
    iso_token = token.str.contains(r"^[A-Z]{3}$").fill_null(False)
    checks = [
        _Check(
            iso_token & ~token.is_in(ISO_CODES),
            pl.concat_str(pl.lit("unknown currency '"), token, pl.lit("' in the amount")),
        )
    ]
    if "currency" in roles:
        column = pl.col("__column_ccy")
        checks += [
            _Check(
                (pl.col("currency") != "") & column.is_null(),
                pl.concat_str(pl.lit("unknown currency "), _quoted("currency")),
            ),
            _Check(
                column.is_not_null() & iso_token & (token != column),
                pl.concat_str(
                    pl.lit("the amount is in "),
                    token,
                    pl.lit(" but the currency column says "),
                    column,
                ),
            ),
        ]
    return checks


def _decide_decimal(
    w: pl.DataFrame, money: list[str], hint: str, native: bool
) -> tuple[str, str | None]:
    """The file's decimal mark, voted by every money value that shows one.

    Both marks in one value: the last is decimal. One mark repeated: it groups thousands. One
    mark followed by 1-2 or 4+ digits, or after a leading 0: decimal. "1,234" alone proves
    nothing; the other values decide, else `hint` (',' for semicolon files) with a warning.
    Amount columns vote first; the balance only breaks a tie.
    """
    tally = {"dot": 0, "comma": 0, "ambiguous": 0}
    example: str | None = None
    amounts = [r for r in money if r != "balance"]
    for group in (amounts, ["balance"] if "balance" in money else []):
        for role in group:
            body = pl.col(f"{role}__body")
            usable = pl.col(f"{role}__shape") & ~_is_native(role, native)
            ambiguous = usable & body.str.contains(_AMBIGUOUS)
            counts = w.select(
                (usable & body.str.contains(_DOT_EVIDENCE) & ~ambiguous).sum().alias("dot"),
                (usable & body.str.contains(_COMMA_EVIDENCE) & ~ambiguous).sum().alias("comma"),
                ambiguous.sum().alias("ambiguous"),
            ).row(0, named=True)
            for key in tally:
                tally[key] += counts[key]
            if counts["ambiguous"] and example is None:
                example = w.filter(ambiguous).get_column(f"{role}__body")[0]
        if tally["dot"] != tally["comma"]:
            return ("." if tally["dot"] > tally["comma"] else ","), None
    if example is not None and tally["dot"] == 0:
        other = "," if hint == "." else "."
        return hint, (
            f"amounts such as '{example}' are ambiguous; read '{other}' as a thousands "
            f"separator and '{hint}' as the decimal mark"
        )
    return hint, None


def _candidate_formats(u: pl.DataFrame) -> list[_DateFormat]:
    cleaned = [v for v in u.get_column("__clean").unique().to_list() if v]
    words = [v for v in u.get_column("__words").unique().to_list() if v]
    return [
        f
        for f in _DATE_FORMATS
        if any(_SHAPES[f.fmt].search(v) for v in (words if f.month_names else cleaned))
    ]


def _parse_dates(
    values: pl.Series, native: bool
) -> tuple[tuple[pl.Series, pl.Series], str | None, str | None]:
    """Distinct values -> dates, with the format chosen from all the file's values.

    The candidate reading the most rows wins (weighted by how often each value occurs); when
    day-first and month-first read every value alike, day-first wins with a warning. Work is
    done on the distinct values; the caller maps them back.
    """
    counts = values.value_counts(name="__n")
    raw = pl.col(values.name)
    cleaned = raw.str.strip_chars_start(NATIVE_DATE).str.replace(_TIME_SUFFIX, "").str.strip_chars()
    u = counts.with_columns(
        cleaned.alias("__clean"),
        (raw.str.starts_with(NATIVE_DATE) if native else pl.lit(False)).alias("__native"),
    ).with_columns(
        pl.col("__clean").str.replace_all(r"[-,./\s]+", " ").str.strip_chars().alias("__words"),
    )
    # Only the formats whose shape some value has (usually one or two of the 17): every polars
    # regex or strptime compiles its pattern again (~0.1 ms), which dominated small files.
    # Python's `re` accepts at least what polars' does for these patterns, so none is missed.
    candidates = _candidate_formats(u)
    u = u.with_columns(
        pl.when(source.str.contains(f.shape) & ~pl.col("__native"))
        .then(source.str.strptime(pl.Date, f.fmt, strict=False))
        .alias(f.fmt)
        for f in candidates
        for source in [pl.col("__words") if f.month_names else pl.col("__clean")]
    )
    scores = dict.fromkeys((f.fmt for f in _DATE_FORMATS), 0)
    if candidates:
        scores |= u.select(
            pl.col("__n").filter(pl.col(f.fmt).is_not_null()).sum().alias(f.fmt) for f in candidates
        ).row(0, named=True)
    best = max(_DATE_FORMATS, key=lambda f: scores[f.fmt])  # max keeps the first of equals
    warning = None
    label = None
    chosen = pl.lit(None, dtype=pl.Date)
    if scores[best.fmt]:
        chosen, label = pl.col(best.fmt), best.label
        if (
            best.twin
            and scores[best.twin] == scores[best.fmt]
            and u.filter(pl.col(best.fmt) != pl.col(best.twin)).height
        ):
            warning = f"dates are ambiguous (all days ≤ 12); read as {best.label}"
    native_date = pl.col("__clean").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    u = u.with_columns(
        pl.when(pl.col("__native")).then(native_date).otherwise(chosen).alias("__date")
    )
    return (u.get_column(values.name), u.get_column("__date")), label, warning
