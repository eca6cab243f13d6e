"""OFX extraction: v2 XML and v1 SGML, FITIDs, per-statement currencies, corrupt files."""

from __future__ import annotations

import datetime as dt

from finapp.services.extraction import extract_transactions

SIGNON = """<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<DTSERVER>20240201120000</DTSERVER><LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1>"""


def stmttrn(
    fitid: str, posted: str, amount: str, name: str, memo: str = "", extra: str = ""
) -> str:
    memo_tag = f"<MEMO>{memo}</MEMO>" if memo else ""
    return (
        f"<STMTTRN><TRNTYPE>OTHER</TRNTYPE><DTPOSTED>{posted}</DTPOSTED>"
        f"<TRNAMT>{amount}</TRNAMT><FITID>{fitid}</FITID><NAME>{name}</NAME>{memo_tag}{extra}"
        "</STMTTRN>"
    )


def v2(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" '
        'NEWFILEUID="NONE"?>\n'
        f"<OFX>{SIGNON}{body}</OFX>\n"
    ).encode()


def bank_statement(currency: str, account: str, transactions: str) -> str:
    return f"""<STMTTRNRS><TRNUID>1</TRNUID>
<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS>
<STMTRS><CURDEF>{currency}</CURDEF>
<BANKACCTFROM><BANKID>123456789</BANKID><ACCTID>{account}</ACCTID>
<ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>
<BANKTRANLIST><DTSTART>20240101</DTSTART><DTEND>20240131</DTEND>{transactions}</BANKTRANLIST>
<LEDGERBAL><BALAMT>100.00</BALAMT><DTASOF>20240131</DTASOF></LEDGERBAL>
</STMTRS></STMTTRNRS>"""


def test_v2_xml_with_two_statements_in_two_currencies() -> None:
    eur = bank_statement(
        "EUR",
        "DE0001",
        stmttrn("F1", "20240105", "-12.50", "Bakery", "Card 1234")
        + stmttrn("F2", "20240131235959[-5:EST]", "2500.00", "Employer"),
    )
    usd = bank_statement("USD", "US0002", stmttrn("F3", "20240110120000", "-3.1", "Coffee"))
    data = v2(f"<BANKMSGSRSV1>{eur}{usd}</BANKMSGSRSV1>")
    result = extract_transactions("ofx", data)
    assert result.failure is None and result.errors == [] and result.warnings == []
    rows = result.rows
    assert rows.get_column("row").to_list() == [1, 2, 3]
    # The date as written: 23:59 EST on Jan 31 is not moved to Feb 1 (UTC).
    assert rows.get_column("date").to_list() == [
        dt.date(2024, 1, 5), dt.date(2024, 1, 31), dt.date(2024, 1, 10),
    ]  # fmt: skip
    assert rows.get_column("amount_minor").to_list() == [-1250, 250000, -310]
    assert rows.get_column("currency").to_list() == ["EUR", "EUR", "USD"]
    assert rows.get_column("account").to_list() == ["DE0001", "DE0001", "US0002"]
    assert rows.get_column("external_id").to_list() == ["F1", "F2", "F3"]
    assert rows.get_column("description").to_list() == ["Bakery — Card 1234", "Employer", "Coffee"]
    assert rows.get_column("balance_minor").to_list() == [None, None, None]
    assert rows.get_column("category").to_list() == ["", "", ""]


def test_v1_sgml_with_credit_card_statement_and_a_foreign_currency_transaction() -> None:
    data = b"""OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>
<DTSERVER>20240201<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>
<CREDITCARDMSGSRSV1><CCSTMTTRNRS><TRNUID>1
<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<CCSTMTRS><CURDEF>GBP
<CCACCTFROM><ACCTID>4111XXXX1111</CCACCTFROM>
<BANKTRANLIST><DTSTART>20240101<DTEND>20240131
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240103<TRNAMT>-45.00<FITID>CC1<NAME>Train ticket</STMTTRN>
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240104<TRNAMT>-1500<FITID>CC2<NAME>Tokyo hotel
<CURRENCY><CURRATE>0.0054<CURSYM>JPY</CURRENCY></STMTTRN>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240105<TRNAMT>10.5<FITID>CC3<MEMO>Refund</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL><BALAMT>-200.00<DTASOF>20240131</LEDGERBAL>
</CCSTMTRS></CCSTMTTRNRS></CREDITCARDMSGSRSV1>
</OFX>
"""
    result = extract_transactions("ofx", data)
    assert result.failure is None and result.errors == []
    rows = result.rows
    assert rows.get_column("amount_minor").to_list() == [-4500, -1500, 1050]
    assert rows.get_column("currency").to_list() == ["GBP", "JPY", "GBP"]
    assert rows.get_column("account").to_list() == ["4111XXXX1111"] * 3
    assert rows.get_column("external_id").to_list() == ["CC1", "CC2", "CC3"]
    assert rows.get_column("description").to_list() == ["Train ticket", "Tokyo hotel", "Refund"]


def test_bad_transaction_is_a_row_error_and_the_rest_is_read() -> None:
    transactions = (
        stmttrn("A", "20240101", "1.00", "ok")
        + stmttrn("B", "20240102", "abc", "bad amount")
        + stmttrn("C", "20240103", "1.005", "too precise")
        + stmttrn("D", "20240104", "-2.00", "ok")
    )
    data = v2(f"<BANKMSGSRSV1>{bank_statement('EUR', 'X', transactions)}</BANKMSGSRSV1>")
    result = extract_transactions("ofx", data)
    assert result.rows.get_column("external_id").to_list() == ["A", "D"]
    assert result.rows.get_column("row").to_list() == [1, 4]
    messages = {e.row: e.message for e in result.errors}
    assert set(messages) == {2, 3}
    assert messages[2] == "transaction B: unparseable amount 'abc'"
    assert messages[3] == "transaction C: amount 1.005 has more decimals than EUR allows (2)"


def test_corrupt_ofx_fails() -> None:
    result = extract_transactions("ofx", b"OFXHEADER:100\nthis is not ofx at all <OFX><BROKEN")
    assert result.failure is not None
    assert result.failure.startswith("the OFX file could not be parsed")
    assert result.rows.height == 0


def test_ofx_without_statements_fails() -> None:
    result = extract_transactions("ofx", v2(""))
    assert result.failure == "the OFX file contains no bank or credit card statement"
