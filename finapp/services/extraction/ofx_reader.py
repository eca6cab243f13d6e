"""OFX/QFX statements (v1 SGML and v2 XML) through ofxtools.

Each transaction is converted (validated) on its own, so one malformed transaction becomes a
row error instead of sinking the statement. The posting date is taken as written in the file:
ofxtools normalises to UTC, which would move late-evening transactions to the next day.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import warnings as py_warnings
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation

import polars as pl
from ofxtools.models.base import Aggregate
from ofxtools.Parser import OFXTree

from finapp.services.extraction.currency import ISO_CODES, exponent
from finapp.services.extraction.result import ROW_SCHEMA, ExtractionResult, RowError, failed

logger = logging.getLogger(__name__)

_STATEMENTS = ("STMTRS", "CCSTMTRS")
_ACCOUNTS = ("BANKACCTFROM", "CCACCTFROM")
_OFX_DATE = re.compile(r"^\d{8}")


def read_ofx(data: bytes, *, default_currency: str) -> ExtractionResult:
    """Every bank and credit-card transaction in an OFX document, in file order."""
    tree = OFXTree()
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")  # private-tag warnings are noise here
            tree.parse(io.BytesIO(data.lstrip(b"\xef\xbb\xbf")))
    except Exception as exc:
        logger.info("ofxtools could not parse a file: %s", exc)
        return failed(f"the OFX file could not be parsed ({_reason(exc)})")
    root = tree.getroot()

    warnings: list[str] = []
    errors: list[RowError] = []
    records: list[dict[str, object]] = []
    statements = [e for e in root.iter() if e.tag in _STATEMENTS]
    investments = sum(1 for e in root.iter() if e.tag == "INVSTMTRS")
    if investments:
        warnings.append(f"{investments} investment statement(s) are not read")
    if not statements:
        return failed("the OFX file contains no bank or credit card statement", warnings=warnings)

    index = 0
    for statement in statements:
        curdef = (statement.findtext("CURDEF") or "").strip().upper()
        if curdef not in ISO_CODES:
            warnings.append(
                f"a statement has no valid currency ({curdef or 'none'}); used {default_currency}"
            )
            curdef = default_currency
        account = _account_id(statement)
        tranlist = statement.find("BANKTRANLIST")
        for element in tranlist.findall("STMTTRN") if tranlist is not None else []:
            index += 1
            record, problem = _transaction(element, curdef, account)
            if problem:
                errors.append(RowError(row=index, message=problem))
            else:
                record["row"] = index
                records.append(record)
    rows = pl.DataFrame(records, schema=ROW_SCHEMA) if records else pl.DataFrame(schema=ROW_SCHEMA)
    if index == 0:
        warnings.append("the statement(s) contain no transactions")
    return ExtractionResult(rows=rows.select(list(ROW_SCHEMA)), errors=errors, warnings=warnings)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _account_id(statement: ET.Element) -> str:
    for tag in _ACCOUNTS:
        element = statement.find(tag)
        if element is not None:
            return (element.findtext("ACCTID") or "").strip()
    return ""


def _transaction(
    element: ET.Element, curdef: str, account: str
) -> tuple[dict[str, object], str | None]:
    """One STMTTRN as a row, or the reason it cannot be one."""
    fitid = (element.findtext("FITID") or "").strip()
    label = f"transaction {fitid}: " if fitid else ""
    # The commonest defects, said plainly (ofxtools' own messages are terse).
    raw_amount = (element.findtext("TRNAMT") or "").strip()
    try:
        Decimal(raw_amount.replace(",", "."))  # ofxtools accepts a decimal comma too
    except InvalidOperation:
        return {}, f"{label}unparseable amount '{raw_amount[:60]}'"
    raw_date = (element.findtext("DTPOSTED") or "").strip()
    if not _OFX_DATE.match(raw_date):
        return {}, f"{label}unparseable date '{raw_date[:60]}'"
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")
            trn = Aggregate.from_etree(element)
    except Exception as exc:
        return {}, f"{label}{_reason(exc)}"

    currency = curdef
    if trn.currency is not None and trn.currency.cursym:
        # <CURRENCY> means the amounts are in that currency (<ORIGCURRENCY> means converted).
        currency = str(trn.currency.cursym).upper()
    amount: Decimal = trn.trnamt
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        return {}, (
            f"{label}amount {amount} has more decimals than {currency} allows "
            f"({exponent(currency)})"
        )

    try:
        posted = dt.date(int(raw_date[0:4]), int(raw_date[4:6]), int(raw_date[6:8]))
    except ValueError:
        posted = trn.dtposted.date()

    name = (trn.name or "").strip()
    if not name and trn.payee is not None:
        name = (trn.payee.name or "").strip()
    memo = (trn.memo or "").strip()
    # The memo often carries what the name lacks (reference, card number); keep both.
    description = f"{name} — {memo}" if name and memo and memo not in name else name or memo
    return {
        "date": posted,
        "amount_minor": int(scaled),
        "currency": currency,
        "description": description,
        "category": "",
        "account": account,
        "balance_minor": None,
        "external_id": fitid or None,
    }, None
