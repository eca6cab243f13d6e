"""CSV extraction: dialects banks really export, exact amounts, per-row errors, file failures."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from finapp.services.extraction import ROW_SCHEMA, ExtractionResult, extract_transactions


def csv(text: str, encoding: str = "utf-8") -> ExtractionResult:
    return extract_transactions("csv", text.encode(encoding))


def amounts(result: ExtractionResult) -> list[int]:
    return result.rows.get_column("amount_minor").to_list()


def dates(result: ExtractionResult) -> list[dt.date]:
    return result.rows.get_column("date").to_list()


def errors(result: ExtractionResult) -> dict[int, str]:
    return {e.row: e.message for e in result.errors}


def test_us_dialect_comma_thousands_and_month_first_dates() -> None:
    result = csv(
        "Date,Description,Amount\n"
        '01/05/2024,Coffee,"-1,234.56"\n'
        "01/31/2024,Salary,2500.00\n"  # day 31 proves month-first
        "02/01/2024,Refund,+12.50\n"
    )
    assert result.failure is None and result.errors == [] and result.warnings == []
    assert amounts(result) == [-123456, 250000, 1250]
    assert dates(result) == [dt.date(2024, 1, 5), dt.date(2024, 1, 31), dt.date(2024, 2, 1)]
    assert result.rows.get_column("row").to_list() == [2, 3, 4]
    assert result.rows.get_column("description").to_list() == ["Coffee", "Salary", "Refund"]
    assert result.rows.get_column("currency").to_list() == ["EUR"] * 3


def test_european_semicolon_cp1252_with_euro_and_umlauts() -> None:
    text = (
        "Buchungstag;Verwendungszweck;Betrag;Währung\r\n"
        "05.01.2024;Bäckerei Müller;-1.234,56;EUR\r\n"
        "31.01.2024;Gehalt;2.500,00 €;EUR\r\n"
        "01.02.2024;Überweisung;-0,99;EUR\r\n"
    )
    result = csv(text, encoding="cp1252")
    assert result.failure is None and result.errors == []
    assert amounts(result) == [-123456, 250000, -99]
    assert dates(result) == [dt.date(2024, 1, 5), dt.date(2024, 1, 31), dt.date(2024, 2, 1)]
    assert result.rows.get_column("description").to_list()[:2] == ["Bäckerei Müller", "Gehalt"]
    assert any("Windows-1252" in w for w in result.warnings)


def test_mostly_utf8_with_a_stray_byte_stays_utf8() -> None:
    text = "Datum;Beschreibung;Betrag\n" + "01.01.2024;Bäckerei Müller;-1,00\n" * 20
    data = text.encode("utf-8") + "02.01.2024;Caf\xe9;-2,00\n".encode("cp1252")
    result = extract_transactions("csv", data)
    descriptions = result.rows.get_column("description").to_list()
    assert descriptions[0] == "Bäckerei Müller" and descriptions[-1] == "Caf\ufffd"
    assert result.warnings == ["1 byte(s) that are not valid UTF-8 were replaced"]


def test_utf8_bom_tab_delimited_iso_dates() -> None:
    text = "\ufeffDate\tPayee\tAmount\tCategory\n2024-03-01\tÉpicerie\t-4.20\tFood\n"
    result = extract_transactions("csv", text.encode("utf-8"))
    assert result.failure is None and result.errors == []
    assert amounts(result) == [-420]
    assert result.rows.get_column("description").to_list() == ["Épicerie"]  # payee fallback
    assert result.rows.get_column("category").to_list() == ["Food"]
    assert result.warnings == []


def test_utf16_with_bom() -> None:
    result = extract_transactions(
        "csv", "Date\tPayee\tAmount\n2024-03-01\tZoë\t-1.00\n".encode("utf-16")
    )
    assert result.rows.get_column("description").to_list() == ["Zoë"]
    assert amounts(result) == [-100] and result.warnings == []


def test_pipe_delimited_and_space_thousands() -> None:
    result = csv("Datum|Omschrijving|Bedrag\n15-01-2024|Huur|-1 234,50\n16-01-2024|Koffie|-3,10\n")
    assert result.errors == []
    assert amounts(result) == [-123450, -310]
    assert dates(result) == [dt.date(2024, 1, 15), dt.date(2024, 1, 16)]


def test_debit_and_credit_columns() -> None:
    result = csv(
        "Transaction Date,Details,Paid out,Paid in,Balance\n"
        "2024-01-02,Rent,950.00,,1050.00\n"
        "2024-01-03,Salary,,3000.00,4050.00\n"
        "2024-01-04,Zero in other column,12.00,0.00,4038.00\n"
        "2024-01-05,Dash for empty,-,2.00,4040.00\n"
    )
    assert result.errors == []
    assert amounts(result) == [-95000, 300000, -1200, 200]
    assert result.rows.get_column("balance_minor").to_list() == [105000, 405000, 403800, 404000]


def test_sign_formats_parentheses_trailing_minus_codes_and_symbols() -> None:
    result = csv(
        "Date,Memo,Amount\n"
        "2024-01-01,a,(12.50)\n"
        "2024-01-02,b,12.50-\n"
        "2024-01-03,c,EUR -5.00\n"
        '2024-01-04,d,"€1,234.56"\n'
        "2024-01-05,e,12\n"
        "2024-01-06,f,-£3.10\n"
        "2024-01-07,g,7.25 DR\n"
        "2024-01-08,h,7.25 CR\n"
        "2024-01-09,i,.5\n"
    )
    assert result.errors == []
    assert amounts(result) == [-1250, -1250, -500, 123456, 1200, -310, -725, 725, 50]
    assert result.rows.get_column("currency").to_list() == [
        "EUR", "EUR", "EUR", "EUR", "EUR", "GBP", "EUR", "EUR", "EUR",
    ]  # fmt: skip


def test_preamble_lines_before_header_and_balance() -> None:
    result = csv(
        "Account statement\n"
        "Account;NL91ABNA0417164300\n"
        "Period;01.01.2024 - 31.01.2024\n"
        "\n"
        "Date;Description;Amount;Balance;Account\n"
        "02.01.2024;Shop;-10,00;990,00;NL91ABNA0417164300\n"
        "03.01.2024;Shop;-20,00;970,00;NL91ABNA0417164300\n"
    )
    assert result.failure is None and result.errors == []
    assert result.rows.get_column("row").to_list() == [6, 7]
    assert amounts(result) == [-1000, -2000]
    assert result.rows.get_column("balance_minor").to_list() == [99000, 97000]
    assert result.rows.get_column("account").to_list() == ["NL91ABNA0417164300"] * 2


def test_currency_column_with_mixed_currencies_including_jpy_and_kwd() -> None:
    result = csv(
        "Date,Description,Amount,Currency\n"
        '2024-01-01,Tokyo,"-1,200",JPY\n'
        "2024-01-02,Paris,-12.34,EUR\n"
        "2024-01-03,Kuwait,1.250,KWD\n"
        "2024-01-04,NYC,-5.5,usd\n"
    )
    assert result.errors == []
    assert amounts(result) == [-1200, -1234, 1250, -550]
    assert result.rows.get_column("currency").to_list() == ["JPY", "EUR", "KWD", "USD"]


def test_too_many_decimals_for_the_currency_is_a_row_error() -> None:
    result = csv(
        "Date,Description,Amount,Currency\n"
        "2024-01-01,ok,-1200,JPY\n"
        "2024-01-02,yen cents,12.50,JPY\n"
        "2024-01-03,three decimals,12.345,EUR\n"
        "2024-01-04,trailing zeros are exact,12.500,EUR\n"
    )
    assert amounts(result) == [-1200, 1250]
    assert errors(result) == {
        3: "amount '12.50' has more decimals than JPY allows (0)",
        4: "amount '12.345' has more decimals than EUR allows (2)",
    }


def test_garbage_rows_are_reported_with_their_line_numbers() -> None:
    result = csv(
        "Date,Description,Amount\n"
        "2024-01-01,good,1.00\n"
        "2024-13-45,bad date,2.00\n"
        '2024-01-03,bad amount,"12,3,4"\n'
        "2024-01-04,good,4.00\n"
        "\n"
        ",,\n"
        "2024-01-07,no amount,\n"
        ",no date,5.00\n"
        "2024-01-09,letters,abc\n"
        "2024-01-10,two signs,-(1.00)\n"
        "2024-01-11,good,11.00\n"
    )
    assert amounts(result) == [100, 400, 1100]
    assert result.rows.get_column("row").to_list() == [2, 5, 12]
    assert errors(result) == {
        3: "unparseable date '2024-13-45' (expected yyyy-mm-dd)",
        4: "unparseable amount '12,3,4'",
        8: "missing amount",
        9: "missing date",
        10: "unparseable amount 'abc'",
        11: "unparseable amount '-(1.00)'",
    }


def test_both_debit_and_credit_filled_is_a_row_error() -> None:
    result = csv(
        "Date,Description,Debit,Credit\n"
        "2024-01-01,ok,5.00,\n"
        "2024-01-02,both,5.00,6.00\n"
        "2024-01-03,neither,,\n"
    )
    assert amounts(result) == [-500]
    assert errors(result) == {
        3: "both debit '5.00' and credit '6.00' are filled",
        4: "missing amount (debit and credit are empty)",
    }


def test_ambiguous_dates_are_read_day_first_with_a_warning() -> None:
    result = csv("Date,Description,Amount\n03/04/2024,a,1.00\n05/06/2024,b,2.00\n")
    assert dates(result) == [dt.date(2024, 4, 3), dt.date(2024, 6, 5)]
    assert result.warnings == ["dates are ambiguous (all days ≤ 12); read as dd/mm/yyyy"]


def test_same_day_and_month_everywhere_is_not_ambiguous() -> None:
    result = csv("Date,Description,Amount\n01/01/2024,a,1.00\n02/02/2024,b,2.00\n")
    assert result.warnings == []
    assert dates(result) == [dt.date(2024, 1, 1), dt.date(2024, 2, 2)]


def test_date_format_is_decided_by_the_whole_file() -> None:
    # Only the last row proves day-first; the first two would read either way.
    result = csv(
        "Date,Description,Amount\n02/03/2024,a,1.00\n04/05/2024,b,1.00\n25/12/2024,c,1.00\n"
    )
    assert result.warnings == []
    assert dates(result) == [dt.date(2024, 3, 2), dt.date(2024, 5, 4), dt.date(2024, 12, 25)]


def test_other_date_forms() -> None:
    result = csv(
        "Date,Description,Amount\n05 Jan 2024,a,1.00\n6-Feb-2024,b,1.00\n07 March 2024,c,1.00\n"
    )
    assert result.errors == []
    assert dates(result) == [dt.date(2024, 1, 5), dt.date(2024, 2, 6), dt.date(2024, 3, 7)]
    two_digit = csv("Date,Description,Amount\n05.01.24,a,1.00\n")
    assert dates(two_digit) == [dt.date(2024, 1, 5)]
    with_time = csv(
        "Date,Description,Amount\n2024-01-05 23:59:00,a,1.00\n2024-01-06T08:00:00Z,b,2\n"
    )
    assert dates(with_time) == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]


def test_decimal_mark_is_decided_by_the_whole_file() -> None:
    # "1.234" alone is ambiguous; "12,5" elsewhere shows the comma is the decimal mark.
    result = csv("Date;Description;Amount\n01.01.2024;a;1.234\n02.01.2024;b;12,5\n")
    assert amounts(result) == [123400, 1250]
    assert result.warnings == []
    dot = csv('Date,Description,Amount\n2024-01-01,a,"1,234"\n2024-01-02,b,12.5\n')
    assert amounts(dot) == [123400, 1250]


def test_only_ambiguous_amounts_warn() -> None:
    result = csv('Date,Description,Amount\n2024-01-01,a,"1,234"\n2024-01-02,b,7\n')
    assert amounts(result) == [123400, 700]
    assert len(result.warnings) == 1 and "'1,234' are ambiguous" in result.warnings[0]


def test_apostrophe_thousands_and_amount_header_currency() -> None:
    result = csv("Datum,Text,Betrag (CHF)\n2024-01-01,Miete,-1'950.00\n")
    assert amounts(result) == [-195000]
    assert result.rows.get_column("currency").to_list() == ["CHF"]


def test_default_currency_is_used_when_nothing_says_otherwise() -> None:
    result = extract_transactions(
        "csv", b"Date,Description,Amount\n2024-01-01,a,1.00\n", default_currency="usd"
    )
    assert result.rows.get_column("currency").to_list() == ["USD"]


def test_unknown_and_conflicting_currencies_are_row_errors() -> None:
    result = csv(
        "Date,Description,Amount,Currency\n"
        "2024-01-01,a,1.00,XXQ\n"
        "2024-01-02,b,USD 1.00,EUR\n"
        "2024-01-03,c,ABC 1.00,\n"
        "2024-01-04,d,1.00,€\n"
    )
    assert amounts(result) == [100]
    assert result.rows.get_column("currency").to_list() == ["EUR"]
    assert errors(result) == {
        2: "unknown currency 'XXQ'",
        3: "the amount is in USD but the currency column says EUR",
        4: "unknown currency 'ABC' in the amount",
    }


def test_quoted_fields_with_delimiters_and_newlines() -> None:
    result = csv(
        'Date,Description,Amount\n2024-01-01,"Shop, Inc.","-1,000.00"\n'
        '2024-01-02,"two\nlines",2.00\n2024-01-03,after,3.00\n'
    )
    assert result.errors == []
    assert result.rows.get_column("description").to_list() == ["Shop, Inc.", "two\nlines", "after"]
    assert amounts(result) == [-100000, 200, 300]


def test_rows_wider_than_the_header_are_errors_not_truncated() -> None:
    # An unquoted "1,234.56" in a comma file would otherwise silently become 1.00.
    result = csv(
        "Date,Description,Amount\n2024-01-01,a,1,234.56\n2024-01-02,b,2.00,\n2024-01-03,c\n"
    )
    assert amounts(result) == [200]  # a trailing empty field is harmless
    assert errors(result) == {
        2: "the row has more fields than the header (an unquoted separator?)",
        4: "missing amount",
    }


def test_indian_digit_grouping() -> None:
    result = csv('Date,Description,Amount\n2024-01-01,a,"₹1,00,000.50"\n')
    assert amounts(result) == [10000050]
    assert result.rows.get_column("currency").to_list() == ["INR"]


def test_unclosed_quote_fails_the_file() -> None:
    result = csv('Date,Description,Amount\n2024-01-01,"unclosed,1.00\n2024-01-02,ok,2.00\n')
    assert result.failure == "the CSV could not be parsed (a quoted field is never closed)"


def test_header_must_be_near_the_top() -> None:
    result = csv("preamble\n" * 60 + "Date,Description,Amount\n2024-01-01,a,1.00\n")
    assert result.failure is not None and result.failure.startswith("no date or amount column")


def test_unreadable_balance_is_left_empty_with_a_warning() -> None:
    result = csv("Date,Description,Amount,Balance\n2024-01-01,a,1.00,n/a\n2024-01-02,b,2,3\n")
    assert amounts(result) == [100, 200]
    assert result.rows.get_column("balance_minor").to_list() == [None, 300]
    assert result.warnings == ["the balance could not be read on 1 row(s) (2); left empty"]


def test_classic_mac_line_endings_and_sep_hint() -> None:
    result = csv("sep=;\rDate;Description;Amount\r2024-01-01;a;1,50\r")
    assert amounts(result) == [150]
    assert result.rows.get_column("row").to_list() == [3]


def test_dutch_af_bij_flag_column() -> None:
    result = csv(
        '"Datum","Naam / Omschrijving","Af Bij","Bedrag (EUR)"\n'
        '"20240105","Albert Heijn","Af","12,34"\n'
        '"20240106","Salaris","Bij","2500,00"\n'
    )
    assert result.errors == []
    assert amounts(result) == [-1234, 250000]
    assert dates(result) == [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]


def test_header_matching_is_accent_and_case_insensitive() -> None:
    result = csv("  DATE OPÉRATION ;Libellé;MONTANT\n05/01/2024;Café;-3,50\n")
    assert result.errors == []
    assert amounts(result) == [-350]
    assert result.rows.get_column("description").to_list() == ["Café"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Foo,Bar,Amount\n1,2,3\n", "no date column found (columns: Foo, Bar, Amount)"),
        ("Date,Description,Note\n2024-01-01,a,b\n", "no amount column found"),
        ("just,some,words\nand,more,words\n", "no date or amount column found"),
    ],
)
def test_missing_columns_fail_the_file_and_say_what_is_missing(text: str, message: str) -> None:
    result = csv(text)
    assert result.failure is not None and result.failure.startswith(message)
    assert result.rows.height == 0 and result.rows.schema == pl.Schema(ROW_SCHEMA)


def test_empty_file_and_header_only() -> None:
    assert csv("").failure == "the file is empty"
    header_only = csv("Date,Description,Amount\n")
    assert header_only.failure is None and header_only.rows.height == 0
    assert header_only.warnings == ["the table has a header but no transactions"]


def test_result_always_has_the_row_schema() -> None:
    result = csv("Date,Description,Amount\n2024-01-01,a,1\n")
    assert result.rows.schema == pl.Schema(ROW_SCHEMA)
    row = result.rows.row(0, named=True)
    assert row["category"] == "" and row["account"] == ""
    assert row["balance_minor"] is None and row["external_id"] is None
