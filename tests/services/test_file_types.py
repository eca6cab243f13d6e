"""Type checks by extension and content, and filename sanitising against hostile names."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from finapp.services.file_types import UnsupportedFile, detect_kind, safe_filename

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"
OFX_V1 = b"OFXHEADER:100\r\nDATA:OFXSGML\r\n\r\n<OFX><SIGNONMSGSRSV1>"
OFX_V2 = b'<?xml version="1.0"?>\n<?OFX OFXHEADER="200"?>\n<OFX><BANKMSGSRSV1>'


def _zip(path: Path, names: list[str]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("name", "head", "kind"),
    [
        ("statement.pdf", PDF, "pdf"),
        ("scan.PNG", PNG, "png"),
        ("photo.jpg", JPEG, "jpeg"),
        ("receipt.jpeg", JPEG, "jpeg"),
        ("old.xls", OLE2, "xls"),
        ("bank.ofx", OFX_V1, "ofx"),
        ("bank.qfx", OFX_V2, "ofx"),
        ("ledger.csv", b"date,amount\n2026-01-01,1.00\n", "csv"),
        ("bom.csv", b"\xef\xbb\xbfdate;amount\n", "csv"),
    ],
)
def test_matching_extension_and_content_is_accepted(name: str, head: bytes, kind: str) -> None:
    assert detect_kind(name, head) == kind


def test_real_xlsx_is_told_apart_from_other_zip_archives(tmp_path: Path) -> None:
    workbook = _zip(tmp_path / "a.xlsx", ["[Content_Types].xml", "xl/workbook.xml"])
    assert detect_kind("book.xlsx", workbook.read_bytes()[:8192], whole=workbook) == "xlsx"
    other = _zip(tmp_path / "b.xlsx", ["payload.exe"])
    with pytest.raises(UnsupportedFile, match="a zip archive"):
        detect_kind("book.xlsx", other.read_bytes()[:8192], whole=other)


@pytest.mark.parametrize(
    ("name", "head", "reason"),
    [
        (
            "invoice.xlsx",
            EXE,
            "named like an Excel workbook but its content is a Windows executable",
        ),
        ("ledger.csv", b"date,amount\x00\x01\x02", "content is binary data"),
        ("ledger.csv", PDF, "content is a PDF"),
        ("statement.pdf", b"just some text", "content is text"),
        ("scan.png", JPEG, "content is a JPEG image"),
        ("bank.ofx", b"date,amount\n", "content is text"),
        ("export.xls", b"<html><table><tr><td>1</td></tr></table></html>", "really HTML or XML"),
    ],
)
def test_content_contradicting_the_extension_is_refused_with_the_reason(
    name: str, head: bytes, reason: str
) -> None:
    with pytest.raises(UnsupportedFile, match=reason):
        detect_kind(name, head)


@pytest.mark.parametrize(
    "name", ["payload.exe", "archive.zip", "notes.txt", "noextension", ".csv.sh"]
)
def test_unaccepted_extensions_are_refused_listing_what_is_accepted(name: str) -> None:
    with pytest.raises(
        UnsupportedFile, match="accepted: CSV, JPEG, JPG, OFX, PDF, PNG, QFX, XLS, XLSX"
    ):
        detect_kind(name, b"anything")


def test_empty_file_is_refused() -> None:
    with pytest.raises(UnsupportedFile, match="is empty"):
        detect_kind("ledger.csv", b"")


@pytest.mark.parametrize(
    ("hostile", "safe"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("..\\..\\windows\\system32\\evil.csv", "evil.csv"),
        ("/absolute/path/statement.pdf", "statement.pdf"),
        ("bad\x00name\x1b[31m.csv", "badname[31m.csv"),
        ('re<po>rt:"q1"|?*.xlsx', "re_po_rt__q1____.xlsx"),
        ("..", "file"),
        ("", "file"),
        ("   .csv", "csv"),
        ("Cafe\u0301 statement.csv", "Caf\u00e9 statement.csv"),  # NFD in, NFC out
    ],
)
def test_hostile_filenames_are_made_safe(hostile: str, safe: str) -> None:
    assert safe_filename(hostile) == safe


def test_long_names_are_capped_but_keep_their_extension() -> None:
    name = safe_filename("x" * 1000 + ".pdf")
    assert len(name) <= 200
    assert name.endswith(".pdf")
