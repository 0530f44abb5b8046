"""Automated mail detection: headers first (RFC 3834, RFC 2919, RFC 6522), then subject, sender and explicit text."""

from __future__ import annotations

import email

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.mail.automated import automated_kind
from dealpulse.mail.mime import parse_rfc822

words = st.lists(st.sampled_from(["thanks", "the", "proposal", "pricing", "next", "week", "legal", "signed", "we", "can",
                                  "meet", "Tuesday", "budget", "approved", "questions", "contract", "office", "reply"]),
                 min_size=1, max_size=12).map(" ".join)
casing = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])


@given(subject=words, text=words)
def test_ordinary_mail_from_a_person_is_never_automated(subject, text):
    assert automated_kind({}, "ann.buyer@acme.example", subject, text) == ""


@given(value=st.sampled_from(["auto-replied", "auto-generated", "auto-notified"]), case=casing, subject=words)
def test_auto_submitted_other_than_no_is_automated_in_any_case(value, case, subject):
    assert automated_kind({"Auto-Submitted": case(value)}, "ann@acme.example", subject, "") in ("out_of_office", "auto_reply")
    assert automated_kind({"Auto-Submitted": case("no")}, "ann@acme.example", subject, "") == ""


@given(prefix=st.sampled_from(["Automatic reply:", "Auto-Reply:", "Out of Office:", "Abwesenheitsnotiz:",
                               "Réponse automatique :", "Respuesta automática:"]), case=casing, rest=words,
       space=st.sampled_from(["", " ", "  "]))
def test_out_of_office_subjects_are_recognised_whatever_follows(prefix, case, rest, space):
    assert automated_kind({}, "ann@acme.example", f"{space}{case(prefix)} {rest}", "") == "out_of_office"


@given(precedence=st.sampled_from(["bulk", "list", "junk", "BULK"]), subject=words)
def test_bulk_and_list_mail_is_a_mailing_list(precedence, subject):
    assert automated_kind({"Precedence": precedence}, "news@acme.example", subject, "") == "mailing_list"
    assert automated_kind({"List-Id": "<team.acme.example>"}, "ann@acme.example", subject, "") == "mailing_list"


@pytest.mark.parametrize("headers, sender, subject, expected", [
    ({"Content-Type": 'multipart/report; report-type="delivery-status"'}, "x@acme.example", "Hi", "delivery_receipt"),
    ({}, "MAILER-DAEMON@acme.example", "Returned mail", "delivery_receipt"),
    ({}, "ann@acme.example", "Read: Proposal", "delivery_receipt"),
    ({"X-Autoreply": "yes"}, "ann@acme.example", "Re: Proposal", "auto_reply"),
    ({"Precedence": "auto_reply"}, "ann@acme.example", "Re: Proposal", "auto_reply"),
    ({}, "no-reply@acme.example", "Your ticket 4411", "auto_reply"),
])
def test_receipts_and_auto_acknowledgements(headers, sender, subject, expected):
    assert automated_kind(headers, sender, subject, "") == expected


def test_an_explicit_automated_notice_in_the_text_counts_but_a_person_mentioning_the_office_does_not():
    assert automated_kind({}, "help@acme.example", "We received your request",
                          "This is an automated response. We will get back to you within two days.") == "auto_reply"
    assert automated_kind({}, "ann@acme.example", "Re: Pricing",
                          "I'm out of the office on Friday, but we are happy to sign on Monday.") == ""


def test_parsed_mail_keeps_the_headers_the_classifier_needs():
    raw = (b"From: ann@acme.example\r\nTo: rep@seller.example\r\nSubject: Away\r\nAuto-Submitted: auto-replied\r\n"
           b"List-Id: <x.acme.example>\r\nX-Other: dropped\r\nMessage-ID: <a@b>\r\n\r\nAway.\r\n")
    assert email.message_from_bytes(raw)["Auto-Submitted"] == "auto-replied"
    mail = parse_rfc822(raw, provider_id="1", thread_id="t")
    assert mail.automation_headers == {"auto-submitted": "auto-replied", "list-id": "<x.acme.example>"}
