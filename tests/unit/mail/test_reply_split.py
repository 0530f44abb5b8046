"""Reply splitting: tone scoring sees only what the sender wrote now, never quotes, signatures or disclaimers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dealpulse.mail.reply_split import ReplyParts, split_reply, split_signature

REPLIES = Path(__file__).resolve().parents[2] / "fixtures" / "mail" / "replies"
CASES = sorted(REPLIES.glob("*.txt"))


def load(path: Path) -> tuple[str, str]:
    body, expected = path.read_text(encoding="utf-8").split("=== new text ===\n", 1)
    return body, expected.rstrip("\n")


def test_fixture_set_is_large_and_varied():
    assert len(CASES) >= 40
    assert sum(1 for path in CASES if path.stem.startswith("h")) >= 10  # held-out cases


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_new_text_of_fixture(path):
    body, expected = load(path)
    assert split_reply(body).new_text == expected


def parts_of(name: str) -> ReplyParts:
    return split_reply(load(REPLIES / f"{name}.txt")[0])


def test_gmail_reply_parts():
    parts = parts_of("01-gmail-simple")
    assert parts.signature == "Best regards,\nTom"
    assert parts.quoted_text.startswith("On Mon, Nov 2, 2026 at 10:14 AM Sarah Lee")
    assert "12% discount" in parts.quoted_text
    assert parts.disclaimer == ""


def test_signature_and_disclaimer_are_separated_from_the_quote():
    parts = parts_of("31-signature-disclaimer-quote")
    assert parts.signature.startswith("Best,\nGeorge Harris\nProcurement Manager")
    assert parts.disclaimer.startswith("The information contained in this communication is confidential")
    assert parts.quoted_text.endswith("> Hi George, checking in on the renewal.")


def test_forward_note_is_new_text_and_forwarded_mail_is_history():
    parts = parts_of("10-gmail-forward-with-note")
    assert parts.quoted_text.startswith("---------- Forwarded message ---------")
    assert "clause 9.2" in parts.quoted_text and "clause 9.2" not in parts.new_text


def test_bare_forward_has_no_new_text():
    parts = parts_of("12-forward-no-note")
    assert parts.new_text == ""
    assert "Shipments this week" in parts.quoted_text


def test_mobile_footer_is_signature():
    parts = parts_of("09-apple-from-date-header")
    assert parts.signature == "Sent from my iPhone"


def test_a_message_that_is_only_thanks_keeps_it():
    assert split_reply("Thanks!").new_text == "Thanks!"
    assert split_reply("Thanks!\n\nOn Mon, Nov 2, 2026 at 1:00 PM A <a@b.com> wrote:\n> x").new_text == "Thanks!"


@pytest.mark.parametrize("closing", ["Best, Jo", "Thanks, Priya Shah\nHead of IT", "Regards, M.", "Cheers! Mike"])
def test_a_closing_and_name_on_one_line_is_the_signature(closing):
    parts = split_reply(f"We have decided to make it ourselves.\n\n{closing}")
    assert parts.new_text == "We have decided to make it ourselves."
    assert parts.signature == closing


@pytest.mark.parametrize("text", ["Hi Sam,\n\nWE ACCEPT.", "Dear Ms. Okafor,\n\nAA AA AA."])
def test_a_shouted_sentence_is_not_mistaken_for_a_name(text):
    assert split_reply(text).new_text == text


def test_a_thank_you_that_goes_on_is_not_a_signature():
    text = "We will sign on Friday.\n\nThanks, Sam will send the PO tomorrow."
    assert split_reply(text).new_text == text


def test_split_signature_does_not_look_for_quotes():
    parts = split_signature("We accept.\n> not a quote here\n\nCheers,\nAmy")
    assert parts.new_text == "We accept.\n> not a quote here"
    assert parts.signature == "Cheers,\nAmy"


def test_empty_and_whitespace_text():
    assert split_reply("") == ReplyParts("", "", "", "")
    assert split_reply(" \n\n\t") == ReplyParts("", "", "", "")


def test_crlf_line_endings():
    assert split_reply("We're in.\r\n\r\nOn Mon, Nov 2, 2026 at 1:00 PM A <a@b.com> wrote:\r\n> x").new_text == "We're in."


# -- properties ---------------------------------------------------------------------------------------------------


def nonblank_lines(text: str) -> Counter:
    return Counter(line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip())


_LINE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=0, max_size=60
)
_EMAILISH_LINE = st.one_of(
    _LINE_TEXT,
    st.sampled_from(
        [
            "> quoted", "On Mon, Nov 2, 2026 at 10:14 AM A <a@b.com> wrote:", "-----Original Message-----",
            "From: A <a@b.com>", "Sent: Monday", "To: b@c.com", "Subject: x", "-- ", "Thanks,", "Best regards,",
            "Jane Doe", "Sent from my iPhone", "CONFIDENTIALITY NOTICE: private", "", "________________________________",
            "Begin forwarded message:", "Le lun. 2 nov. 2026 à 10:14, A <a@b.fr> a écrit :",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_EMAILISH_LINE, max_size=40))
def test_every_line_lands_in_exactly_one_part(lines):
    text = "\n".join(lines)
    parts = split_reply(text)
    together = sum((nonblank_lines(part) for part in parts), Counter())
    assert together == nonblank_lines(text)


_PLAIN_SENTENCE = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz     ,.?!'0123456789"), min_size=1, max_size=80
).map(str.strip).filter(lambda s: len(s) > 3)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PLAIN_SENTENCE, min_size=1, max_size=8))
def test_without_quote_markers_the_message_is_never_lost(sentences):
    text = "\n".join(sentences)
    parts = split_reply(text)
    assert parts.quoted_text == ""
    assert parts.new_text.startswith(sentences[0])


_QUOTES_AND_TAILS = [
    "\n\nOn Tue, Nov 3, 2026 at 4:02 PM Marc <marc@dealvendor.com> wrote:\n> This is unacceptable. We are furious.",
    "\n\n-----Original Message-----\nFrom: A <a@b.com>\nSent: Monday\nTo: c@d.com\nSubject: x\n\nWe cancel everything.",
    "\n\nFrom: Angry Buyer <buyer@x.com>\nSent: Monday\nTo: rep@y.com\nSubject: Re\n\nTerrible service.",
    "\n\nThis email and any attachments are confidential. If you are not the intended recipient, delete it.",
    "\n\n---------- Forwarded message ---------\nFrom: Legal <legal@x.com>\n\nWe reject clause 9.",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(_PLAIN_SENTENCE, min_size=1, max_size=6), st.sampled_from(_QUOTES_AND_TAILS))
def test_appending_a_quote_or_disclaimer_does_not_change_the_new_text(sentences, tail):
    message = "\n".join(sentences)
    assume(split_reply(message).disclaimer == "")
    assert split_reply(message + tail).new_text == split_reply(message).new_text


def test_large_and_pathological_input_finishes():
    text = (
        ("On " + "x" * 5000 + "\n") * 200
        + "<" * 250 + "a@" * 50_000 + " wrote:\n"  # once took minutes: backtracking in the attribution pattern
        + "Hi\n" * 50_000  # once quadratic: signature search counted following lines per line
        + ("From: a\n" * 2000) + ("> " * 10000) + "\n" + "-- \n" * 1000
    )
    parts = split_reply(text)
    assert nonblank_lines(text) == sum((nonblank_lines(part) for part in parts), Counter())
