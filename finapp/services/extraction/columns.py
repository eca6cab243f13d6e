"""Recognising a header row: which column holds the date, the amount, the payee…

Names are compared case-, accent- and punctuation-insensitively against English, German,
French, Dutch, Spanish and Italian names that banks use in their exports.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from finapp.services.extraction.currency import ISO_CODES, SYMBOLS

# How many rows from the top may precede the header (bank preambles are a handful of lines).
HEADER_SCAN_ROWS = 40
_MAX_HEADER_LENGTH = 60

# role -> (primary names, secondary names). An exact primary match beats an exact secondary
# match, which beats a header that merely contains a name ("Amount (EUR)" contains "amount").
_NAMES: dict[str, tuple[str, str]] = {
    "date": (
        "date|booking date|transaction date|trans date|txn date|posting date|posted date|"
        "post date|entry date|completed date|started date|date posted|datum|buchungstag|"
        "buchungsdatum|buchung|date operation|date de l operation|date de operation|"
        "date comptable|fecha|fecha operacion|fecha de operacion|f operacion|fecha contable|"
        "boekdatum|transactiedatum|data|data operazione|data contabile",
        "value date|valuta|valutadatum|wertstellung|wertstellungstag|date valeur|"
        "date de valeur|fecha valor|data valuta|rentedatum",
    ),
    "amount": (
        "amount|transaction amount|amt|betrag|umsatz|montant|montant operation|importe|bedrag|"
        "importo|amount eur|net amount",
        "sum|value|total",
    ),
    "debit": (
        "debit|debits|debit amount|withdrawal|withdrawals|withdrawal amount|out|paid out|"
        "money out|amount out|outflow|soll|ausgang|lastschrift|debet|debe|cargo|cargos|"
        "retrait|retraits|sortie|sorties|spent|uitgaven|addebiti|uscite",
        "",
    ),
    "credit": (
        "credit|credits|credit amount|deposit|deposits|deposit amount|in|paid in|money in|"
        "amount in|inflow|haben|eingang|gutschrift|haber|abono|abonos|depot|depots|entree|"
        "entrees|received|credito|inkomsten|accrediti|entrate",
        "",
    ),
    # A debit/credit flag next to an unsigned amount ("Af Bij" in Dutch exports).
    "sign": (
        "af bij|debit credit|credit debit|dr cr|cr dr|d c|c d|soll haben|s h|"
        "credit debit indicator|debit credit indicator|cd indicator",
        "",
    ),
    "description": (
        "description|transaction description|details|transaction details|detail|narrative|"
        "narration|particulars|buchungstext|verwendungszweck|beschreibung|libelle|"
        "libelle operation|description operation|concepto|descripcion|omschrijving|"
        "mededelingen|descrizione|causale|purpose",
        "memo|notes|note|reference|text|remarks|comment|referenz",
    ),
    "payee": (
        "payee|payee name|name|counterparty|counterparty name|merchant|merchant name|"
        "beneficiary|beguenstigter|begunstigter|empfanger|empfaenger|zahlungsempfanger|"
        "auftraggeber|beguenstigter zahlungspflichtiger|begunstigter zahlungspflichtiger|"
        "name zahlungsbeteiligter|zahlungsbeteiligter|naam tegenpartij|naam omschrijving|"
        "tegenpartij|beneficiaire|tiers|beneficiario|ordenante|payer|vendor|party",
        "",
    ),
    "category": ("category|categories|kategorie|categorie|categoria|rubrik|rubrique", ""),
    "account": (
        "account|account number|account no|account name|account id|iban|konto|kontonummer|"
        "auftragskonto|compte|numero de compte|no de compte|cuenta|numero de cuenta|rekening|"
        "rekeningnummer|conto|numero conto",
        "",
    ),
    "balance": (
        "balance|running balance|account balance|balance after|saldo|solde|kontostand|"
        "saldo nach buchung|closing balance|saldo dopo",
        "",
    ),
    "currency": (
        "currency|ccy|curr|currency code|wahrung|waehrung|devise|monnaie|moneda|divisa|munt",
        "",
    ),
    # Only names that promise a bank-assigned, stable id: the id decides duplicates, and a
    # plain "ID" column is often just the line number of one export.
    "external_id": (
        "transaction id|fitid|unique id|unique transaction id|transaktions id|transactie id",
        "",
    ),
}

# Names too short or generic to be trusted inside a longer header ("in" in "Amount in EUR").
_EXACT_ONLY = frozenset(
    [
        "in",
        "out",
        "amount in",
        "amount out",
        "id",
        "name",
        "to",
        "text",
        "data",
        "sum",
        "value",
        "total",
        "amt",
        "curr",
        "ccy",
        "d c",
        "c d",
        "s h",
        "debe",
        "haber",
        "soll",
        "haben",
        "note",
        "party",
        "detail",
        "buchung",
    ]
)

# A counterparty's account number is not a payee name.
_ACCOUNT_WORDS = frozenset(["account", "iban", "bic", "konto", "rekening", "number", "nummer"])

# Headers naming the other side of a transfer: never this statement's account.
_COUNTERPARTY_WORDS = frozenset(
    [
        "counterparty",
        "gegenkonto",
        "tegenrekening",
        "beneficiary",
        "payee",
        "empfanger",
        "empfaenger",
        "contrepartie",
        "beneficiaire",
        "zahlungsbeteiligter",
        "begunstigter",
        "beguenstigter",
        "auftraggeber",
        "tegenpartij",
        "beneficiario",
    ]
)

_PHRASES: dict[str, list[tuple[str, int]]] = {}
for _role, (_primary, _secondary) in _NAMES.items():
    _PHRASES[_role] = [(n, 3) for n in _primary.split("|") if n] + [
        (n, 2) for n in _secondary.split("|") if n
    ]

# Every word of every phrase: a cell sharing none of them names no role (the header scan
# classifies every cell of the top rows, most of them dates, amounts and descriptions).
_PHRASE_WORDS = frozenset(w for phrases in _PHRASES.values() for p, _ in phrases for w in p.split())

_NON_WORD = re.compile(r"[^a-z0-9]+")
_HEADER_CODE = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")


def normalize_name(name: str) -> str:
    """'  Date opération ' -> 'date operation'; 'Betrag (EUR)' -> 'betrag eur'."""
    decomposed = unicodedata.normalize("NFKD", name.replace("ß", "ss").lower())
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", ascii_only).strip()


def _contains(words: list[str], phrase: str) -> bool:
    needle = phrase.split()
    n = len(needle)
    return any(words[i : i + n] == needle for i in range(len(words) - n + 1))


@functools.lru_cache(maxsize=4096)
def classify(name: str) -> tuple[str, int] | None:
    """The role a header cell names and how sure we are (3 exact, 2 secondary, 1 contained)."""
    if len(name) > _MAX_HEADER_LENGTH:
        return None  # a sentence or a whole unsplit line, not a column name
    norm = normalize_name(name)
    if not norm:
        return None
    best: tuple[str, int, int] | None = None  # role, score, matched length
    words = norm.split()
    if _PHRASE_WORDS.isdisjoint(words):
        return None  # an exact or contained phrase needs its words in the cell
    for role, phrases in _PHRASES.items():
        for phrase, score in phrases:
            if norm == phrase:
                candidate = (role, score, len(phrase))
            elif (
                phrase not in _EXACT_ONLY
                and _contains(words, phrase)
                and not (role == "account" and _COUNTERPARTY_WORDS.intersection(words))
                and not (role == "payee" and _ACCOUNT_WORDS.intersection(words))
            ):
                candidate = (role, 1, len(phrase))
            else:
                continue
            if best is None or candidate[1:] > best[1:]:
                best = candidate
    return (best[0], best[1]) if best else None


@dataclass
class HeaderMatch:
    """A recognised header row: the column index of each role found."""

    index: int  # position of the header among the scanned rows
    names: list[str]  # the header cells as written
    columns: dict[str, int] = field(default_factory=dict)  # role -> column index
    currencies: dict[str, str] = field(default_factory=dict)  # role -> code named in header

    @property
    def money_roles(self) -> list[str]:
        return [r for r in ("amount", "debit", "credit", "balance") if r in self.columns]


def match_header(cells: Sequence[str]) -> HeaderMatch | None:
    """Map a row's cells to roles; None unless it names at least a date and an amount."""
    found: dict[str, tuple[int, int]] = {}  # role -> (score, column); best score, first column
    for index, cell in enumerate(cells):
        hit = classify(cell or "")
        if hit is None:
            continue
        role, score = hit
        if role not in found or score > found[role][0]:
            found[role] = (score, index)
    columns = {role: index for role, (_score, index) in found.items()}
    if "amount" in columns:
        # A signed amount column wins; a debit/credit pair beside it is a duplicate view.
        columns.pop("debit", None)
        columns.pop("credit", None)
    else:
        columns.pop("sign", None)
    if "date" not in columns or not ({"amount", "debit", "credit"} & columns.keys()):
        return None
    currencies = {}
    for role in ("amount", "debit", "credit", "balance"):
        if role in columns:
            code = header_currency(cells[columns[role]] or "")
            if code:
                currencies[role] = code
    return HeaderMatch(
        index=-1, names=[c or "" for c in cells], columns=columns, currencies=currencies
    )


def header_currency(name: str) -> str | None:
    """'Amount (EUR)' -> 'EUR', 'Betrag in €' -> 'EUR'."""
    for code in _HEADER_CODE.findall(name):
        if code in ISO_CODES:
            return code
    for symbol, code in SYMBOLS.items():
        if symbol in name:
            return code
    return None


def find_header(rows: Sequence[Sequence[str]], limit: int = HEADER_SCAN_ROWS) -> HeaderMatch | None:
    """The first of the top `limit` rows that reads as a transaction header."""
    for index, cells in enumerate(rows[:limit]):
        match = match_header(cells)
        if match is not None:
            match.index = index
            return match
    return None


def missing_columns_message(rows: Sequence[Sequence[str]], limit: int = HEADER_SCAN_ROWS) -> str:
    """Why no header was found, naming what is missing and the columns we did see."""
    best_cells: Sequence[str] = []
    best_key = (-1, -1)
    for cells in rows[:limit]:
        roles = {hit[0] for c in cells if (hit := classify(c or ""))}
        filled = sum(1 for c in cells if (c or "").strip())
        key = (len(roles & {"date", "amount", "debit", "credit"}), filled)
        if key > best_key:
            best_key, best_cells = key, cells
    roles = {hit[0] for c in best_cells if (hit := classify(c or ""))}
    missing = []
    if "date" not in roles:
        missing.append("date")
    if not roles & {"amount", "debit", "credit"}:
        missing.append("amount")
    shown = ", ".join(c.strip() for c in best_cells if (c or "").strip()) or "none"
    if len(shown) > 300:
        shown = shown[:300] + "…"
    what = " or ".join(missing) if missing else "date or amount"
    return f"no {what} column found (columns: {shown})"
