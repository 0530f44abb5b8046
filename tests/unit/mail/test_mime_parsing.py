"""RFC 822 and Gmail `format=full` parsing: what capture stores for real-looking and broken mail."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.mail.mime import MailParseError, decode_base64url, parse_gmail_full, parse_rfc822
from dealpulse.mail.reply_split import split_reply
from dealpulse.mail.types import Address, Attachment, FetchedMail
from dealpulse.standins.gmail_server import GmailMailbox

MIME = Path(__file__).resolve().parents[2] / "fixtures" / "mail" / "mime"


def parse_fixture(name: str, **kwargs) -> FetchedMail:
    return parse_rfc822((MIME / name).read_bytes(), **kwargs)


def test_nested_alternative_inside_mixed_prefers_plain_text_and_lists_attachments():
    mail = parse_fixture("nested-alternative-in-mixed.eml", provider_id="p1", thread_id="t1", labels=["INBOX"])

    assert mail.body_text.startswith("Hallo Herr Novak,\n\nvielen Dank für das Angebot.")
    assert "Lizenzlaufzeit" in mail.body_text  # soft line break of quoted-printable joined
    assert "<div" in mail.body_html
    assert mail.attachments == [
        Attachment(filename="Rueckfragen.pdf", content_type="application/pdf", size=52),
        Attachment(filename="Prüfbericht Q3.png", content_type="image/png", size=70),
    ]
    assert (mail.provider_id, mail.thread_id, mail.labels, mail.is_sent) == ("p1", "t1", ["INBOX"], False)


def test_headers_are_decoded_and_normalised():
    mail = parse_fixture("nested-alternative-in-mixed.eml")

    assert mail.subject == "Re: Angebot – Rückfragen"
    assert mail.sender == Address("maria.lopez@acme-gmbh.de", "María López")
    assert mail.to == [Address("jan.novak@dealvendor.com", "Novak, Jan"), Address("sales@dealvendor.com", "")]
    assert mail.cc == [Address("juergen.bauer@acme-gmbh.de", "Jürgen Bauer")]
    assert mail.message_id == "CAF=x9q8ZpL@mail.acme-gmbh.de"
    assert mail.in_reply_to == "quote-2026-117@dealvendor.com"
    assert mail.references == ["thread-start@dealvendor.com", "quote-2026-117@dealvendor.com"]
    assert mail.sent_at == datetime(2026, 11, 3, 13, 5, tzinfo=UTC)


def test_iso_8859_1_quoted_printable_body_and_subject():
    mail = parse_fixture("iso-8859-1-quoted-printable.eml")

    assert mail.subject == "Réunion de suivi"
    assert "Le déjeuner de jeudi est confirmé. À bientôt !" in mail.body_text
    assert mail.sent_at == datetime(2026, 11, 2, 9, 30, tzinfo=UTC)  # "-0000" means UTC, still aware


def test_windows_1252_smart_quotes_and_euro_sign():
    mail = parse_fixture("windows-1252-8bit.eml")

    assert "We’re “nearly” there – the price is 12€ per seat." in mail.body_text
    assert mail.sent_at == datetime(2026, 11, 4, 22, 45, tzinfo=UTC)


def test_wrong_and_unknown_declared_charsets_are_read_best_effort():
    mail = parse_fixture("mislabelled-charset.eml")

    assert "Das Budget für Q1 ist eingefroren. Grüße" in mail.body_text  # UTF-8 labelled us-ascii
    assert "Résumé attached" in mail.body_text  # Latin-1 labelled UTF-8
    assert "Plain ASCII under an unknown label." in mail.body_text


def test_base64_body_and_encoded_word_names_in_other_scripts():
    mail = parse_fixture("base64-utf8.eml")

    assert mail.subject == "お見積り (quote)"
    assert mail.sender == Address("ken.kobayashi@sakura-tech.jp", "小林 健")
    assert "来週契約します" in mail.body_text


def test_html_only_outlook_reply_becomes_text_whose_quote_split_reply_finds():
    mail = parse_fixture("html-only-outlook-reply.eml")

    assert "<style>" not in mail.body_text and "MsoNormal" not in mail.body_text
    parts = split_reply(mail.body_text)
    assert parts.new_text == "Hi Emma,\n\nWe are not going to proceed this quarter – the budget was cut."
    assert parts.signature == "Oliver"
    assert "very excited" in parts.quoted_text and "very excited" not in parts.new_text


def test_attached_message_is_listed_not_read_as_body():
    mail = parse_fixture("forwarded-as-attachment.eml")

    assert mail.body_text.strip() == "See the attached message from legal."
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("Contract review.eml", "message/rfc822")]
    assert mail.attachments[0].size > 0


def test_broken_headers_give_what_can_be_salvaged():
    fallback = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    mail = parse_fixture("broken-headers.eml", fallback_date=fallback)

    assert mail.body_text.strip() == "Body survives."
    assert mail.sender is None  # "broken@@example..com" is no address
    assert mail.to == []  # undisclosed-recipients:; has nobody in it
    assert mail.cc == [Address("a@x.com", "")]
    assert mail.subject.startswith("café")  # unknown charset guessed, not replaced by U+FFFD
    assert mail.message_id == "no-angle-brackets@example.com"
    assert mail.references == ["a@x.com", "b@x.com"]
    assert mail.sent_at == fallback


def test_missing_date_falls_back_to_given_date_then_received_then_epoch():
    received = b"Received: from a by b; Wed, 11 Nov 2026 08:00:00 +0100\r\nSubject: x\r\n\r\nbody\r\n"
    provider_date = datetime(2026, 11, 11, 7, 0, 5, tzinfo=UTC)
    assert parse_rfc822(received, fallback_date=provider_date).sent_at == provider_date
    assert parse_rfc822(received, fallback_date=provider_date.replace(tzinfo=None)).sent_at == provider_date
    assert parse_rfc822(received).sent_at == datetime(2026, 11, 11, 7, 0, tzinfo=UTC)
    assert parse_rfc822(b"Subject: x\r\n\r\nbody").sent_at == datetime(1970, 1, 1, tzinfo=UTC)


def test_single_part_non_text_message_is_an_attachment_not_a_body():
    raw = (
        b"From: scanner@acme.example\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
    )
    mail = parse_rfc822(raw)
    assert mail.body_text == ""
    assert mail.attachments == [Attachment("scan.pdf", "application/pdf", 5)]


def test_calendar_invite_alternative_is_listed_and_multipart_without_boundary_is_read_as_text():
    invite = (
        b"Content-Type: multipart/alternative; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n"
        b"Join the call\r\n--z\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\n--z--\r\n"
    )
    mail = parse_rfc822(invite)
    assert mail.body_text.strip() == "Join the call"
    assert [a.content_type for a in mail.attachments] == ["text/calendar"]
    no_boundary = parse_rfc822(b"Content-Type: multipart/mixed\r\n\r\nStill readable\r\n")
    assert no_boundary.body_text.strip() == "Still readable"


def test_absurdly_nested_multipart_is_read_best_effort():
    depth = 1500  # deeper than the stdlib parser's recursion allows
    opening = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(depth))
    raw = (
        b"Subject: nested\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
        + opening
        + b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n--b%d--\r\n" % (depth, depth)
    )
    mail = parse_rfc822(raw)
    assert mail.subject == "nested"
    assert "deep text" in mail.body_text


def test_huge_headers_are_read_by_the_lenient_parsers():
    raw = (
        b"Subject: " + b"=?utf-8?q?Gr=C3=BC=C3=9Fe?= " * 20_000 + b"\r\n"
        + b"To: " + b"".join(b"user%d@customer.example, " % i for i in range(20_000)) + b"\r\n\r\nbody"
    )
    mail = parse_rfc822(raw)
    assert mail.subject.startswith("GrüßeGrüße")
    assert len(mail.to) == 20_000 and mail.to[-1] == Address("user19999@customer.example", "")


def test_non_bytes_input_is_a_clear_error():
    with pytest.raises(MailParseError, match="bytes"):
        parse_rfc822("From: a@b.c\n\nhello")  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash(raw):
    mail = parse_rfc822(raw)
    assert isinstance(mail.body_text, str)
    assert mail.sent_at.tzinfo is not None


_HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "In-Reply-To", "Content-Type",
                 "Content-Transfer-Encoding", "Content-Disposition", "Received"]


@settings(max_examples=300, deadline=None)
@given(
    headers=st.lists(st.tuples(st.sampled_from(_HEADER_NAMES), st.binary(max_size=120)), max_size=12),
    body=st.binary(max_size=1500),
)
def test_message_shaped_garbage_never_crashes(headers, body):
    raw = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    mail = parse_rfc822(raw)
    assert all("@" in address.email for address in mail.to + mail.cc + mail.bcc)


# -- Gmail format=full ------------------------------------------------------------------------------------------


def test_gmail_full_from_the_stand_in_matches_the_rfc822_parse():
    raw = (MIME / "nested-alternative-in-mixed.eml").read_bytes()
    mailbox = GmailMailbox("jan.novak@dealvendor.com")
    gmail_id = mailbox.add_message(raw, label_ids=["INBOX", "UNREAD"])
    resource = json.loads(json.dumps(mailbox.get_message(gmail_id, "full", [])))  # as it crosses the wire

    from_gmail = parse_gmail_full(resource)
    from_raw = parse_rfc822(raw)

    assert from_gmail.provider_id == gmail_id and from_gmail.thread_id == resource["threadId"]
    assert from_gmail.labels == ["INBOX", "UNREAD"] and not from_gmail.is_sent
    for name in ("subject", "sender", "to", "cc", "message_id", "in_reply_to", "references", "sent_at", "body_text"):
        assert getattr(from_gmail, name) == getattr(from_raw, name), name
    assert [(a.filename, a.content_type, a.size) for a in from_gmail.attachments] == [
        (a.filename, a.content_type, a.size) for a in from_raw.attachments
    ]


def test_gmail_attached_message_is_listed_not_read_as_body():
    mailbox = GmailMailbox("paul@dealvendor.com")
    gmail_id = mailbox.add_message((MIME / "forwarded-as-attachment.eml").read_bytes())

    mail = parse_gmail_full(mailbox.get_message(gmail_id, "full", []))

    assert mail.body_text.strip() == "See the attached message from legal."
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("Contract review.eml", "message/rfc822")]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_gmail_full_hand_built_sent_message_with_latin1_html_only_part():
    html = "<p>Caf\u00e9 at 10? <b>Confirmed.</b></p>".encode("latin-1")
    resource = {
        "id": "18c2f0a",
        "threadId": "18c2e00",
        "labelIds": ["SENT"],
        "internalDate": "1794000000000",
        "payload": {
            "mimeType": "multipart/mixed",
            "headers": [
                {"name": "From", "value": "Rep <Rep@DealVendor.com>"},
                {"name": "To", "value": "buyer@customer.io"},
                {"name": "Subject", "value": "Lunch"},
            ],
            "body": {"size": 0},
            "parts": [
                {
                    "partId": "0",
                    "mimeType": "multipart/alternative",
                    "headers": [],
                    "body": {"size": 0},
                    "parts": [
                        {
                            "partId": "0.0",
                            "mimeType": "text/html",
                            "filename": "",
                            "headers": [{"name": "Content-Type", "value": "text/html; charset=ISO-8859-1"}],
                            "body": {"size": len(html), "data": _b64url(html)},
                        }
                    ],
                },
                {
                    "partId": "1",
                    "mimeType": "text/calendar",
                    "filename": "invite.ics",
                    "headers": [],
                    "body": {"attachmentId": "ANGj1", "size": 812},
                },
            ],
        },
    }

    mail = parse_gmail_full(resource)

    assert mail.is_sent and mail.labels == ["SENT"]
    assert mail.sender == Address("rep@dealvendor.com", "Rep")
    assert mail.body_text == "Café at 10? Confirmed."
    assert mail.attachments == [Attachment("invite.ics", "text/calendar", 812)]
    assert mail.sent_at == datetime.fromtimestamp(1794000000, tz=UTC)  # no Date header: internalDate
    assert mail.message_id == ""


@pytest.mark.parametrize("bad", [None, [], {"id": "x"}, {"payload": "nope"}])
def test_gmail_resource_of_the_wrong_shape_is_a_clear_error(bad):
    with pytest.raises(MailParseError, match="payload"):
        parse_gmail_full(bad)


def test_gmail_sent_message_built_by_the_email_package_round_trips():
    message = EmailMessage()
    message["From"] = "Emma Wilson <emma.wilson@dealvendor.com>"
    message["To"] = "Oliver Grant <oliver.grant@initech.co.uk>"
    message["Subject"] = "Next steps – pilot"
    message["Date"] = "Thu, 12 Nov 2026 09:00:00 +0000"
    message["Message-ID"] = "<next-steps@dealvendor.com>"
    message.set_content("Hi Oliver,\n\nI'll send the order form today.\n")
    message.add_alternative("<p>Hi Oliver,</p><p>I'll send the order form today.</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 tiny", maintype="application", subtype="pdf", filename="order.pdf")
    mailbox = GmailMailbox("emma.wilson@dealvendor.com")
    gmail_id = mailbox.add_message(message.as_bytes(), label_ids=["SENT"])

    mail = parse_gmail_full(mailbox.get_message(gmail_id, "full", []))

    assert mail.is_sent
    assert mail.subject == "Next steps – pilot"
    assert mail.body_text.strip() == "Hi Oliver,\n\nI'll send the order form today."
    assert mail.attachments == [Attachment("order.pdf", "application/pdf", 13)]
    assert mail.sent_at == datetime(2026, 11, 12, 9, 0, tzinfo=UTC)


# -- base64url ------------------------------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_base64url_without_padding_round_trips(data):
    assert decode_base64url(_b64url(data)) == data


def test_base64url_rejects_non_base64():
    with pytest.raises(MailParseError):
        decode_base64url("*not base64*")


LOCAL_ATOM = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-+", min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    atoms=st.lists(LOCAL_ATOM, min_size=1, max_size=4),
    joins=st.lists(st.sampled_from([".", ".."]), min_size=3, max_size=3),
    name=st.sampled_from(["", "Lisa Wells", "Wells, Lisa", "Jürgen Müller"]),
    domain=st.sampled_from(["enron.com", "mail.example.co.uk", "example.org"]),
)
def test_exchange_style_addresses_with_double_dots_are_kept(atoms, joins, name, domain):
    local = atoms[0] + "".join(join + atom for join, atom in zip(joins, atoms[1:]))
    address = f"{local}@{domain}"
    header = f'"{name}" <{address}>' if name else address
    raw = f"From: {header}\r\nTo: rep@seller.example\r\nSubject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n"
    mail = parse_rfc822(raw.encode("utf-8"))
    assert mail.sender is not None and mail.sender.email == address.lower()


def test_a_double_dot_in_the_domain_is_still_no_address():
    raw = b"From: l..wells@enron..com\r\nTo: rep@seller.example\r\nSubject: hi\r\nMessage-ID: <m2@example.org>\r\n\r\nhello\r\n"
    assert parse_rfc822(raw).sender is None
