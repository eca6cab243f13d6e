"""Header recognition: names in several languages, precedence, and what is never a column."""

from __future__ import annotations

import pytest

from finapp.services.extraction.columns import classify, find_header, match_header


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Date", "date"),
        ("  BOOKING DATE ", "date"),
        ("Date opération", "date"),
        ("Buchungstag", "date"),
        ("Fecha", "date"),
        ("Value date", "date"),
        ("Amount", "amount"),
        ("Betrag (EUR)", "amount"),
        ("Amount in EUR", "amount"),
        ("Montant", "amount"),
        ("Importe", "amount"),
        ("Bedrag", "amount"),
        ("Paid out", "debit"),
        ("Withdrawal Amount (USD)", "debit"),
        ("Soll", "debit"),
        ("Money in", "credit"),
        ("Haben", "credit"),
        ("Af Bij", "sign"),
        ("Verwendungszweck", "description"),
        ("Libellé", "description"),
        ("Narrative", "description"),
        ("Payee", "payee"),
        ("Beguenstigter/Zahlungspflichtiger", "payee"),
        ("Kategorie", "category"),
        ("IBAN", "account"),
        ("Auftragskonto", "account"),
        ("Running balance", "balance"),
        ("Saldo", "balance"),
        ("Währung", "currency"),
        ("Transaction ID", "external_id"),
    ],
)
def test_names_map_to_roles(name: str, role: str) -> None:
    hit = classify(name)
    assert hit is not None and hit[0] == role


@pytest.mark.parametrize("name", ["ID", "Counterparty account", "IBAN Begünstigter", "", "Type"])
def test_names_that_are_not_our_columns(name: str) -> None:
    hit = classify(name)
    assert hit is None or hit[0] not in ("account", "payee", "external_id")


def test_exact_names_beat_contained_ones_and_amount_beats_debit_credit() -> None:
    match = match_header(["Value date", "Booking date", "Amount", "Debit", "Credit", "Memo"])
    assert match is not None
    assert match.columns == {"date": 1, "amount": 2, "description": 5}


def test_header_currency_is_remembered() -> None:
    match = match_header(["Datum", "Betrag (CHF)", "Saldo in €"])
    assert match is not None and match.currencies == {"amount": "CHF", "balance": "EUR"}


def test_first_qualifying_row_is_the_header() -> None:
    rows = [["Statement", "2024"], ["Account", "123"], [], ["Date", "Amount"], ["Date", "Amount"]]
    match = find_header(rows)
    assert match is not None and match.index == 3
