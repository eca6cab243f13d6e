"""The FETCH response parser and the BODYSTRUCTURE walker, on responses as imaplib hands them
over (lines, and literals as (line, bytes) tuples). Real servers' answers are covered by the
mail check's tests against Dovecot; these pin the syntax corners."""

from __future__ import annotations

import pytest

from finapp.services import imap_structure as st


def test_quoted_strings_literals_nil_numbers_and_nesting() -> None:
    data = [
        (
            b'1 (UID 7 RFC822.SIZE 1234 FLAGS (\\Seen) X-NAME "a \\"quoted\\" \\\\ name" '
            b"BODY[HEADER.FIELDS (FROM SUBJECT)] {12}",
            b"From: a@b\r\n\r\n",
        ),
        b' X-NIL NIL X-EMPTY "")',
    ]

    [(uid, fields)] = st.parse_fetch(data).items()

    assert uid == 7
    assert fields["RFC822.SIZE"] == 1234
    assert fields["FLAGS"] == [b"\\Seen"]
    assert fields["X-NAME"] == b'a "quoted" \\ name'
    assert fields["BODY[HEADER.FIELDS (FROM SUBJECT)]"] == b"From: a@b\r\n\r\n"
    assert fields["X-NIL"] is st.NIL
    assert fields["X-EMPTY"] == b""


def test_several_messages_and_an_unsolicited_fetch_without_uid() -> None:
    data = [b"1 (UID 10 RFC822.SIZE 5)", b"2 (FLAGS (\\Deleted))", b"3 (UID 12 RFC822.SIZE 6)"]
    assert st.parse_fetch(data) == {
        10: {"UID": 10, "RFC822.SIZE": 5},
        12: {"UID": 12, "RFC822.SIZE": 6},
    }


def test_a_literal_inside_a_bodystructure() -> None:
    """A file name with a quote or 8-bit bytes comes as a literal in the middle of a list."""
    name = 'Übersicht "Q1".csv'.encode()
    data = [
        (
            b'1 (UID 3 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 2 1 NIL '
            b'NIL NIL NIL)("text" "csv" NIL NIL NIL "base64" 100 2 NIL ("attachment" ("filename" '
            b"{%d}" % len(name),
            name,
        ),
        b')) NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL))',
    ]

    structure = st.parse_fetch(data)[3]["BODYSTRUCTURE"]
    parts = st.leaf_parts(structure)

    assert [(p.section, p.content_type, p.filename, p.attachment) for p in parts] == [
        ("1", "text/plain", "", False),
        ("2", "text/csv", 'Übersicht "Q1".csv', True),
    ]
    assert parts[1].encoding == "base64" and parts[1].size == 100


@pytest.mark.parametrize(
    "data",
    [
        [b"1 (UID 1 (unclosed"],
        [b"1 (UID 1))"],
        [(b"1 (UID 1 X", b"a literal nobody announced"), b")"],
        [b"1 (UID 1 X \x00)"],
        [b"1 UID 1"],
    ],
)
def test_unreadable_responses_are_structure_errors(data: list) -> None:
    with pytest.raises(st.StructureError):
        st.parse_fetch(data)


def test_sections_of_a_forwarded_message_and_a_single_part_mail() -> None:
    """RFC 3501 numbering: parts of an attached multipart message are 2.1, 2.2; a single-part
    message's body is 1; an attached single-part message's body is N.1."""
    text = [b"text", b"plain", [b"charset", b"utf-8"], st.NIL, st.NIL, b"7bit", 10, 1]
    pdf = [
        b"application",
        b"pdf",
        [b"name", b"inv.pdf"],
        st.NIL,
        st.NIL,
        b"base64",
        40,
        st.NIL,
        [b"attachment", [b"filename", b"inv.pdf"]],
        st.NIL,
        st.NIL,
    ]
    inner = [text, pdf, b"mixed", [b"boundary", b"x"], st.NIL, st.NIL, st.NIL]
    forwarded = [
        b"message",
        b"rfc822",
        st.NIL,
        st.NIL,
        st.NIL,
        b"7bit",
        500,
        [st.NIL] * 10,
        inner,
        20,
        st.NIL,
        st.NIL,
        st.NIL,
        st.NIL,
    ]
    outer = [text, forwarded, b"mixed", [b"boundary", b"y"], st.NIL, st.NIL, st.NIL]

    assert [(p.section, p.content_type, p.filename) for p in st.leaf_parts(outer)] == [
        ("1", "text/plain", ""),
        ("2.1", "text/plain", ""),
        ("2.2", "application/pdf", "inv.pdf"),
    ]
    assert [p.section for p in st.leaf_parts(text)] == ["1"]
    attached_single = [
        b"message",
        b"rfc822",
        st.NIL,
        st.NIL,
        st.NIL,
        b"7bit",
        50,
        [st.NIL] * 10,
        pdf,
        3,
        st.NIL,
        st.NIL,
        st.NIL,
        st.NIL,
    ]
    assert [p.section for p in st.leaf_parts([text, attached_single, b"mixed"])] == ["1", "2.1"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([b"filename", b"plain.csv"], "plain.csv"),
        ([b"filename*", b"utf-8''%C3%9Cbersicht.csv"], "Übersicht.csv"),
        ([b"filename*0*", b"utf-8''%C3%9Cber", b"filename*1", b"sicht.csv"], "Übersicht.csv"),
        ([b"filename", b"=?utf-8?b?w5xiZXJzaWNodC5jc3Y=?="], "Übersicht.csv"),
    ],
)
def test_file_names_are_decoded(params: list[bytes], expected: str) -> None:
    part = [
        b"text",
        b"csv",
        st.NIL,
        st.NIL,
        st.NIL,
        b"base64",
        4,
        1,
        st.NIL,
        [b"attachment", params],
        st.NIL,
        st.NIL,
    ]
    [leaf] = st.leaf_parts(part)
    assert leaf.filename == expected


def test_content_decoding_is_lenient_like_the_email_package() -> None:
    assert st.decode_content(b"aGVsbG8=\r\n", "base64") == b"hello"
    assert st.decode_content(b"aGVsbG8gd29ybGQ", "base64") == b"hello wor"  # bad padding
    assert st.decode_content(b"caf=C3=A9=\r\n!", "quoted-printable") == "café!".encode()
    assert st.decode_content(b"raw", "8bit") == b"raw"


def test_uid_set_collapses_runs() -> None:
    assert st.uid_set([]) == ""
    assert st.uid_set([7]) == "7"
    assert st.uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
