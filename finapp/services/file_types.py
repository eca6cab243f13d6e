"""What a received file really is, and a name that is safe to show and to write.

The extension says what the sender claims; the first bytes say what it is. Both must agree on
one of the accepted kinds, or the file is refused with the reason.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

from finapp.services.errors import InvalidInput

MAX_NAME_LENGTH = 200

# extension -> kind
EXTENSION_KINDS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".ofx": "ofx",
    ".qfx": "ofx",
    ".pdf": "pdf",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
}
ACCEPTED = ", ".join(sorted({ext.lstrip(".").upper() for ext in EXTENSION_KINDS}))

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE = re.compile(r'[<>:"/\\|?*]')


class UnsupportedFile(InvalidInput):
    """The file's type is not accepted, or its content contradicts its extension."""


def safe_filename(original: str) -> str:
    """A display- and disk-safe version of a sender's filename.

    Drops any directory part (both separators), control characters and characters Windows
    forbids; NFC-normalises; caps the length while keeping the extension; never empty or dot-only.
    """
    name = unicodedata.normalize("NFC", original or "")
    name = PureWindowsPath(PurePosixPath(name.replace("\\", "/")).name).name
    name = _CONTROL.sub("", name)
    name = _UNSAFE.sub("_", name).strip().strip(".").strip()
    if not name:
        name = "file"
    stem, dot, ext = name.rpartition(".")
    if dot and len(ext) <= 10:
        stem = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip()
        name = f"{stem or 'file'}.{ext}"
    return name[:MAX_NAME_LENGTH]


def display_name(original: str) -> str:
    """The original name for display: NFC, no control characters, bounded."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", original or ""))[:255] or "file"


def kind_from_extension(filename: str) -> str:
    suffix = PurePosixPath(filename.lower()).suffix
    kind = EXTENSION_KINDS.get(suffix)
    if kind is None:
        shown = suffix or "no extension"
        raise UnsupportedFile(
            f"“{filename}”: {shown} files are not accepted (accepted: {ACCEPTED})."
        )
    return kind


def sniff(head: bytes) -> str:
    """What the first bytes (at least 8 KB when the file has them) look like."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_OLE2):
        return "xls"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"MZ"):
        return "a Windows executable"
    if head.startswith(b"\x7fELF"):
        return "a Linux executable"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive"
    if b"\x00" in head:
        return "binary data"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    if text.startswith(b"OFXHEADER") or b"<OFX>" in text[:4096]:
        return "ofx"
    if text.startswith((b"<!DOCTYPE HTML", b"<HTML", b"<TABLE")):
        return "an HTML page"
    if text.startswith(b"<?XML"):
        return "an XML document"
    return "text"


def detect_kind(filename: str, data_head: bytes, *, whole: Path | bytes | None = None) -> str:
    """The accepted kind of this file, or UnsupportedFile saying why not.

    `whole` (the received file, on disk or in memory) is needed only to tell an .xlsx from
    another zip.
    """
    claimed = kind_from_extension(filename)
    if not data_head:
        raise UnsupportedFile(f"“{filename}” is empty.")
    actual = sniff(data_head)
    if actual == "zip":
        actual = "xlsx" if whole is not None and _is_xlsx(whole) else "a zip archive"
    if claimed == "csv" and actual == "text":
        return "csv"
    if claimed == actual:
        return claimed
    what = {
        "xlsx": "an Excel workbook",
        "xls": "an Excel 97 workbook",
        "csv": "a CSV text file",
        "ofx": "an OFX statement",
        "pdf": "a PDF",
        "png": "a PNG image",
        "jpeg": "a JPEG image",
    }
    looks = what.get(actual, actual)
    hint = ""
    if claimed == "xls" and actual in ("an HTML page", "an XML document", "text"):
        hint = " Many banks' “.xls” exports are really HTML or XML; export as CSV or XLSX instead."
    raise UnsupportedFile(
        f"“{filename}” is named like {what[claimed]} but its content is {looks}.{hint}"
    )


def _is_xlsx(whole: Path | bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(whole) if isinstance(whole, bytes) else whole) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return False
    return "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names)
