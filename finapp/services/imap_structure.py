"""A message's MIME structure as the IMAP server reports it, and the parts fetched by section.

Parsing a whole message in Python (what imap-tools does on every fetch) costs ~0.25 ms for a
small mail and reads every byte of every part, signature logos and videos included. The server
has parsed the message already: `BODYSTRUCTURE` gives each part's type, parameters, encoding,
size and disposition, and `BODY.PEEK[<section>]` fetches exactly one part. So the mail check
asks for the structure and a few headers of a whole chunk in one command, decides what it
wants, and fetches only those parts, grouped into as few commands as possible.

This module knows IMAP's syntax (RFC 3501 section 7.4.2, as imaplib hands it over: lines, and
literals split out as (line, bytes) tuples) and MIME's part encodings; email_ingest decides.
"""

from __future__ import annotations

import binascii
import email.utils
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import decode_header
from typing import Any

from imap_tools.utils import decode_value

# One token of a FETCH response, by group: "(", ")", a quoted string (with its quotes, so it
# is never empty), a literal's announced length (it ends the line), an atom, anything else (an
# error). An atom may carry a section in brackets with spaces and parentheses inside
# ("BODY[HEADER.FIELDS (FROM DATE)]") and a partial origin ("BODY[1]<0>"). findall() hands the
# groups over as tuples: no method call per token, which is most of the parser's time.
_TOKEN = re.compile(
    rb'(\()|(\))|("(?:[^"\\]|\\.)*")|(\{\d+\+?\}\s*$)'
    rb"|([^\s()\"\[\]{\x00-\x1f\x7f]+(?:\[[^\]]*\](?:<[\d.]+>)?)?)|(\S)",
    re.DOTALL,
)
_UNESCAPE = re.compile(rb"\\(.)")


class StructureError(ValueError):
    """The server's answer could not be read (the caller falls back to a whole fetch)."""


class Nil:
    """IMAP's NIL (distinct from an empty string)."""

    def __repr__(self) -> str:
        return "NIL"


NIL = Nil()
Value = bytes | int | Nil | list[Any]


def parse_fetch(data: Sequence[Any]) -> dict[int, dict[str, Value]]:
    """imaplib's FETCH data -> {uid: {item name (upper case): value}}. Lists are lists, strings
    and literals bytes, numbers int, NIL `NIL`. One pass, no intermediate token stream: this
    runs for every message of every check."""
    messages: dict[int, dict[str, Value]] = {}
    stack: list[list[Value]] = [[]]
    for piece in data:
        if isinstance(piece, tuple):
            text, literal = piece
        elif isinstance(piece, bytes):
            text, literal = piece, None
        else:
            continue  # None: an empty response
        announced = False
        current = stack[-1]
        for opening, closing, quoted, announcement, atom, junk in _TOKEN.findall(text):
            if atom:
                if atom.isdigit():
                    current.append(int(atom))
                elif atom in (b"NIL", b"nil", b"Nil"):
                    current.append(NIL)
                else:
                    current.append(atom)
            elif quoted:
                value = quoted[1:-1]
                current.append(_UNESCAPE.sub(rb"\1", value) if b"\\" in value else value)
            elif opening:
                current = []
                stack.append(current)
            elif closing:
                if len(stack) < 2:
                    raise StructureError("Unbalanced parentheses in a FETCH response")
                closed = stack.pop()
                current = stack[-1]
                current.append(closed)
                if len(stack) == 1:
                    _add_message(messages, current)
                    current = stack[0] = []
            elif announcement:
                announced = True
            else:
                raise StructureError(f"Unreadable FETCH text near {junk!r} in {text[:60]!r}")
        if literal is not None:
            if not announced:
                raise StructureError("A literal arrived without its announcement")
            current.append(literal)
    if len(stack) != 1 or stack[0]:
        raise StructureError("A FETCH response ended inside a list, or had none")
    return messages


def _add_message(messages: dict[int, dict[str, Value]], line: list[Value]) -> None:
    """One response line, [sequence number, [name, value, name, value...]]."""
    if len(line) != 2 or not isinstance(line[1], list):
        raise StructureError(f"Unexpected FETCH response: {line!r:.200}")
    items = line[1]
    fields: dict[str, Value] = {}
    for index in range(0, len(items) - 1, 2):
        name = items[index]
        if not isinstance(name, bytes):
            raise StructureError(f"Unexpected FETCH item name: {name!r:.100}")
        fields[name.decode("ascii", "replace").upper()] = items[index + 1]
    uid = fields.get("UID")
    if isinstance(uid, int):  # unsolicited FETCH (flag changes) carry no UID: not ours
        messages.setdefault(uid, {}).update(fields)


@dataclass(frozen=True)
class Part:
    """One non-multipart part of a message (or of a message attached to it)."""

    section: str  # what BODY.PEEK[...] takes: "1", "2", "2.1"
    content_type: str  # lower case, "application/pdf"
    encoding: str  # lower case, "base64"
    size: int  # octets on the wire (encoded)
    charset: str | None
    filename: str  # decoded; "" when the part has none
    attachment: bool  # Content-Disposition: attachment

    @property
    def is_body_text(self) -> bool:
        """Text the sender wrote (not a named file), as imap-tools' `text`/`html` read it."""
        return not self.filename and self.content_type in ("text/plain", "text/", "text/html")


def leaf_parts(structure: Value) -> list[Part]:
    """Every part with content, depth first, attached messages included (as email.walk()
    does); an attached message itself is listed too when it has a file name."""
    if not isinstance(structure, list) or not structure:
        raise StructureError("BODYSTRUCTURE is not a list")
    parts: list[Part] = []
    _walk(structure, "", parts)
    return parts


def _walk(body: list[Any], section: str, parts: list[Part]) -> None:
    """`section`: this body's own section ("" for the message itself)."""
    if isinstance(body[0], list):  # multipart: (part)(part)... "subtype" extension-data
        children = []
        for child in body:
            if not isinstance(child, list):
                break  # the subtype; the lists after it are parameters, not parts
            children.append(child)
        for number, child in enumerate(children, start=1):
            _walk(child, f"{section}.{number}" if section else str(number), parts)
        return
    part = _leaf(body, section or "1")  # a single-part message's body is section 1
    nested = body[8] if len(body) > 8 else None
    if part.content_type == "message/rfc822" and isinstance(nested, list) and nested:
        if part.filename:
            parts.append(part)
        # RFC 3501: an attached multipart message's parts are N.1, N.2...; an attached
        # single-part message's body is N.1.
        _walk(nested, part.section if isinstance(nested[0], list) else f"{part.section}.1", parts)
        return
    parts.append(part)


def _leaf(body: list[Any], section: str) -> Part:
    maintype = _text(body[0]).lower()
    subtype = _text(body[1]).lower() if len(body) > 1 else ""
    params = _params(body[2] if len(body) > 2 else NIL)
    encoding = _text(body[5]).lower() if len(body) > 5 else "7bit"
    size = body[6] if len(body) > 6 and isinstance(body[6], int) else 0
    disposition_type, disposition_params = _disposition(body, maintype, subtype)
    return Part(
        section=section,
        content_type=f"{maintype}/{subtype}",
        encoding=encoding,
        size=size,
        charset=_charset(params),
        filename=_filename(disposition_params, params),
        attachment=disposition_type == "attachment",
    )


def _disposition(body: list[Any], maintype: str, subtype: str) -> tuple[str, list[Any]]:
    """The disposition sits after the type-specific fields: text has `lines`, message/rfc822
    has envelope, body and lines; then md5, then (disposition)."""
    base = 7
    if maintype == "text":
        base = 8
    elif (maintype, subtype) == ("message", "rfc822"):
        base = 10
    index = base + 1  # skip md5
    if len(body) > index and isinstance(body[index], list) and body[index]:
        value = body[index]
        kind = _text(value[0]).lower()
        return kind, (value[1] if len(value) > 1 and isinstance(value[1], list) else [])
    return "", []


def _params(value: Value) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return _decode_bytes(value)
    if isinstance(value, int):
        return str(value)
    return ""


def _decode_bytes(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _pairs(params: list[Any]) -> list[tuple[str, str]]:
    return [(_text(params[i]).lower(), _text(params[i + 1])) for i in range(0, len(params) - 1, 2)]


def _charset(params: list[Any]) -> str | None:
    for name, value in _pairs(params):
        if name == "charset":
            return value or None
    return None


def _filename(disposition_params: list[Any], content_type_params: list[Any]) -> str:
    """As email's get_filename() then imap-tools: Content-Disposition's filename, else
    Content-Type's name; RFC 2231 (charset'lang'%XX, split in continuations) and RFC 2047
    encoded words decoded."""
    for params, wanted in ((disposition_params, "filename"), (content_type_params, "name")):
        pairs = _pairs(params)
        if not any(n == wanted or n.startswith(wanted + "*") for n, _ in pairs):
            continue
        plain = [v for n, v in pairs if n == wanted]
        if plain and "=?" not in plain[0] and not any(n.startswith(wanted + "*") for n, _ in pairs):
            return plain[0]  # the common case, without the decoders' cost
        decoded = email.utils.decode_params([("", ""), *((n, _quote(v)) for n, v in pairs)])
        for name, value in decoded[1:]:
            if name == wanted:
                # as email.message's get_param: unquote (inside the RFC 2231 triple), collapse
                if isinstance(value, tuple):
                    value = (value[0], value[1], email.utils.unquote(value[2]))
                raw = email.utils.collapse_rfc2231_value(value)
                return "".join(decode_value(text, charset) for text, charset in decode_header(raw))
    return ""


def _quote(value: str) -> str:
    # decode_params unquotes what it is given; values from BODYSTRUCTURE are already unquoted.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def decode_content(raw: bytes, encoding: str) -> bytes:
    """A part's bytes as fetched -> its content. Lenient as the email package is: broken
    base64 yields what can be read, unknown encodings pass through."""
    if encoding == "base64":
        try:
            return binascii.a2b_base64(raw)
        except binascii.Error:
            compact = b"".join(raw.split())
            usable = len(compact) - len(compact) % 4
            try:
                return binascii.a2b_base64(compact[:usable])
            except binascii.Error:
                return b""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(raw)
    return raw


def section_key(section: str, partial: bool = False) -> str:
    """The name the server answers a BODY.PEEK[section] (or <0.n> partial) fetch under."""
    return f"BODY[{section}]<0>" if partial else f"BODY[{section}]"


def uid_set(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set, runs collapsed: [1, 2, 3, 7] -> "1:3,7"."""
    parts: list[str] = []
    start = previous = None
    for uid in uids:
        if previous is not None and uid == previous + 1:
            previous = uid
            continue
        if start is not None:
            parts.append(f"{start}:{previous}" if previous != start else str(start))
        start = previous = uid
    if start is not None:
        parts.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(parts)
