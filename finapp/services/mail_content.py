"""What the mail check reads of a message: a few headers, the parts with file names, the body
text — fetched part by part (see `imap_structure`), or from a whole message as a fallback.

`fetch_chunk` reads a chunk of messages in three commands whatever its size: sizes and
structure are known before any content moves, only the parts asked for are fetched, and the
expensive Python MIME parser never runs. A message whose structure cannot be read comes back as
a whole message (imap-tools) instead, so nothing depends on the shortcut working.
"""

from __future__ import annotations

import email.message
import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.policy import compat32
from typing import Any

from imap_tools import BaseMailBox, MailMessage
from imap_tools.utils import decode_value

from finapp.services import imap_structure
from finapp.services.imap_structure import Part, StructureError, uid_set

logger = logging.getLogger(__name__)

_HEADER_SECTION = "HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)"
_HEADER_ITEM = f"BODY[{_HEADER_SECTION}]"  # the name the server answers it under
BODY_TEXT_BYTES = 64 * 1024  # enough of the body to find a "Project:" line
PARTS_PER_COMMAND = 200  # messages per part FETCH: bounded command lines


@dataclass
class Attachment:
    filename: str
    payload: Callable[[], bytes]
    refusal: str = ""  # why it was not fetched at all (over the size limit)


@dataclass
class MailContent:
    uid: int
    headers: MailMessage  # From, Subject, Date, Message-ID (the whole message, or just those)
    attachments: list[Attachment]  # every part with a file name, attached messages included
    body: Callable[[], str]  # the text a "Project:" line is looked for in


@dataclass
class Wanted:
    """What the check needs of one message, decided from its headers and structure."""

    attachments: list[Part] = field(default_factory=list)
    body: bool = False  # no project id in the subject: the body text is needed too


Decide = Callable[[MailMessage, list[Part]], Wanted]
TooLarge = Callable[[Part], str]  # "" or why the part is refused without fetching it


def of_message(message: MailMessage) -> MailContent:
    """A whole message parsed by imap-tools."""
    return MailContent(
        uid=int(message.uid or 0),
        headers=message,
        attachments=[
            Attachment(a.filename, (lambda a=a: a.payload))
            for a in message.attachments
            if a.filename
        ],
        body=lambda: message.text or html_text(message.html),
    )


def fetch_chunk(
    client: BaseMailBox, uids: Sequence[int], decide: Decide, too_large: TooLarge
) -> list[MailContent]:
    """The contents of these messages (in UID order; a message expunged meanwhile is absent).
    Whatever of the shortcut fails — an answer this parser cannot read, a structure or header
    that does not decode — those messages are fetched whole and parsed by imap-tools."""
    try:
        overview = _fetch(
            client, uid_set(list(uids)), f"(UID BODYSTRUCTURE BODY.PEEK[{_HEADER_SECTION}])"
        )
    except StructureError as exc:
        logger.warning("Reading %d messages whole: %s", len(uids), exc)
        return _whole(client, list(uids))
    readable: dict[int, tuple[MailMessage, list[Part], Wanted]] = {}
    whole: list[int] = []
    for uid in uids:
        fields = overview.get(uid)
        if fields is None:
            continue  # expunged since the search
        try:
            headers = header_message(_bytes(fields.get(_HEADER_ITEM)))
            parts = imap_structure.leaf_parts(fields.get("BODYSTRUCTURE"))
            readable[uid] = (headers, parts, decide(headers, parts))
        except Exception as exc:  # the whole-message path reads it, or records why not
            logger.info("Reading uid %s whole: its structure could not be read (%s)", uid, exc)
            whole.append(uid)
    try:
        contents = _fetch_parts(client, readable, too_large)
    except StructureError as exc:
        logger.warning("Reading %d messages whole: %s", len(readable), exc)
        contents, whole = {}, sorted([*whole, *readable])
    for content in _whole(client, whole):
        contents[content.uid] = content
    return [contents[uid] for uid in uids if uid in contents]


def _whole(client: BaseMailBox, uids: list[int]) -> list[MailContent]:
    if not uids:
        return []
    messages = client.fetch(uid_list=uid_set(uids), mark_seen=False, bulk=True)
    return [of_message(message) for message in messages]


def _fetch_parts(
    client: BaseMailBox,
    readable: dict[int, tuple[MailMessage, list[Part], Wanted]],
    too_large: TooLarge,
) -> dict[int, MailContent]:
    # Messages asking for the same sections share one command (the usual case: all of them).
    plans: dict[int, tuple[list[Part], list[Part], dict[str, str]]] = {}
    groups: dict[tuple[str, ...], list[int]] = {}
    for uid, (_headers, parts, wanted) in readable.items():
        refused = {p.section: reason for p in wanted.attachments if (reason := too_large(p))}
        fetched = [p for p in wanted.attachments if p.section not in refused]
        texts = _body_parts(parts) if wanted.body else []
        plans[uid] = (fetched, texts, refused)
        items = tuple(f"BODY.PEEK[{p.section}]" for p in fetched) + tuple(
            f"BODY.PEEK[{p.section}]<0.{BODY_TEXT_BYTES}>" for p in texts
        )
        if items:
            groups.setdefault(items, []).append(uid)
    answers: dict[int, dict[str, Any]] = {}
    for items, members in groups.items():
        for start in range(0, len(members), PARTS_PER_COMMAND):
            batch = members[start : start + PARTS_PER_COMMAND]
            answers.update(_fetch(client, uid_set(sorted(batch)), f"(UID {' '.join(items)})"))
    contents: dict[int, MailContent] = {}
    for uid, (headers, parts, _wanted) in readable.items():
        fetched, texts, refused = plans[uid]
        got = answers.get(uid, {})
        if (fetched or texts) and not got:
            continue  # expunged between the two commands: not read, so not recorded
        contents[uid] = MailContent(
            uid=uid,
            headers=headers,
            attachments=[_attachment(p, got, refused) for p in parts if p.filename],
            body=_body(texts, got),
        )
    return contents


def _attachment(part: Part, got: dict[str, Any], refused: dict[str, str]) -> Attachment:
    def payload() -> bytes:
        raw = got.get(imap_structure.section_key(part.section))
        if not isinstance(raw, bytes):
            raise StructureError(f"Part {part.section} was not fetched")
        return imap_structure.decode_content(raw, part.encoding)

    return Attachment(part.filename, payload, refused.get(part.section, ""))


def _body_parts(parts: list[Part]) -> list[Part]:
    """As imap-tools' `text`, else its `html`: every unnamed text/plain part, else text/html."""
    plain = [p for p in parts if p.is_body_text and p.content_type != "text/html"]
    return plain or [p for p in parts if p.is_body_text and p.content_type == "text/html"]


def _body(texts: list[Part], got: dict[str, Any]) -> Callable[[], str]:
    def body() -> str:
        pieces = []
        for part in texts:
            raw = got.get(imap_structure.section_key(part.section, partial=True))
            if isinstance(raw, bytes):
                content = imap_structure.decode_content(raw, part.encoding)
                pieces.append(decode_value(content, part.charset))
        text = "".join(pieces)
        return html_text(text) if texts and texts[0].content_type == "text/html" else text

    return body


def _fetch(client: BaseMailBox, uids: str, items: str) -> dict[int, dict[str, Any]]:
    status, data = client.client.uid("FETCH", uids, items)
    if status != "OK":
        raise StructureError(f"FETCH {items[:80]} failed: {data!r:.200}")
    return imap_structure.parse_fetch(data)


class _HeadersOnly(MailMessage):
    """imap-tools' MailMessage over a header block: its from_, subject and date decode as they
    do for whole messages, without the MIME parser's cost (~50 µs a message)."""

    def __init__(self, message: email.message.Message) -> None:
        self._raw_uid_data = b""
        self._raw_flag_data: list[bytes] = []
        self.obj = message


def header_message(raw: bytes) -> MailMessage:
    """A header block (as BODY[HEADER.FIELDS (...)] returns it) as a MailMessage. Headers are
    unfolded as the email package's compat32 policy does; a line without a colon is dropped
    (the parser records it as a defect and drops it too)."""
    message = email.message.Message()
    lines: list[str] = []
    for line in raw.decode("ascii", "surrogateescape").splitlines(keepends=True):
        if not line.strip():
            break
        if line[0] in " \t" and lines:
            lines.append(line)
            continue
        _add_header(message, lines)
        lines = [line]
    _add_header(message, lines)
    return _HeadersOnly(message)


def _add_header(message: email.message.Message, lines: list[str]) -> None:
    if lines and ":" in lines[0]:
        name, value = compat32.header_source_parse(lines)
        message.set_raw(name, value)


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise StructureError("The headers were not returned")
    return value


def html_text(markup: str) -> str:
    """The text of an HTML-only body, one block per line, for the "Project:" line."""
    if not markup:
        return ""
    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", markup)
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6])>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", " ", text))
