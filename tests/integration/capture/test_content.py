"""What is kept of an email: new text, quoted history and signature apart; sanitised HTML; attachments listed only."""

from __future__ import annotations

from datetime import UTC, datetime

from dealpulse.standins.sample_mail import rfc822

from .conftest import connect, run_sync, stored_activity

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"

BODY = """Hi Sam,

We are ready to move ahead with the pilot in January.

Best regards,
Ann Buyer
CFO | Acme

On Mon, 2 Nov 2026 at 10:00, Sam Keller <rep.a1@seller.example> wrote:
> Would a January pilot work for you?
> Sam
"""


def test_email_parts_are_stored_apart_html_is_inert_and_attachments_are_only_listed(db, world, settings, google):
    box = connect(db, settings, google, REP)
    google.add_message(REP, rfc822(
        sender=f"Ann Buyer <{BUYER}>", to=[REP], subject="Re: Pilot", body=BODY, message_id="content-1@acme.test.example",
        html='<p onclick="steal()">Ready <script>alert(1)</script><a href="javascript:evil()">go</a><img src="https://t.example/p.gif"></p>',
        attachments=[("order-form.pdf", "application/pdf", b"%PDF-1.4 " + b"x" * 2048)],
    ))

    run_sync(db, settings, box)

    activity = stored_activity(db, "content-1@acme.test.example")
    assert activity.new_text.startswith("Hi Sam,") and "January" in activity.new_text
    assert "Would a January pilot work" in activity.quoted_text and "Would a January" not in activity.new_text
    assert "CFO | Acme" in activity.signature_text and "CFO" not in activity.new_text
    assert "Ready" in activity.body_html
    for payload in ("<script", "onclick", "javascript:", "t.example/p.gif"):
        assert payload not in activity.body_html
    assert [(a["filename"], a["content_type"]) for a in activity.attachments] == [("order-form.pdf", "application/pdf")]
    assert activity.attachments[0]["size"] > 2000
    assert "%PDF" not in activity.body_html + activity.new_text + activity.quoted_text


FIRST = """Hi Sam,

Could you send the revised order form with the 3-year discount?

Thanks, Ann"""


def test_a_gt_block_quoting_earlier_mail_of_the_thread_is_history_but_gt_bullets_are_text(db, world, settings, google):
    box = connect(db, settings, google, REP)
    google.add_message(REP, rfc822(
        sender=f"Ann Buyer <{BUYER}>", to=[REP], subject="Order form", body=FIRST, message_id="gt-1@acme.test.example",
        sent_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    ))
    run_sync(db, settings, box)
    reply = "Sorry, we have to cancel the pilot after all.\n\n" + "\n".join(f"> {line}" for line in FIRST.splitlines())
    google.add_message(REP, rfc822(
        sender=f"Ann Buyer <{BUYER}>", to=[REP], subject="Re: Order form", body=reply, message_id="gt-2@acme.test.example",
        in_reply_to="gt-1@acme.test.example", sent_at=datetime(2026, 11, 2, 11, tzinfo=UTC),
    ))
    agenda = "Agenda for Thursday:\n\n> pricing for the second plant\n> who signs on our side\n\nAnything to add?"
    google.add_message(REP, rfc822(
        sender=f"Ann Buyer <{BUYER}>", to=[REP], subject="Agenda", body=agenda, message_id="gt-3@acme.test.example",
        sent_at=datetime(2026, 11, 2, 12, tzinfo=UTC),
    ))
    run_sync(db, settings, box)

    quoted_reply = stored_activity(db, "gt-2@acme.test.example")
    assert quoted_reply.new_text == "Sorry, we have to cancel the pilot after all."
    assert "3-year discount" in quoted_reply.quoted_text
    bullets = stored_activity(db, "gt-3@acme.test.example")
    assert "> who signs on our side" in bullets.new_text and bullets.quoted_text == ""
