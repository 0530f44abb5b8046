"""Audit finding 8: deal names, owners and reasons cannot inject Slack mentions or links into the alert webhook, nor
forge lines or links in the plain-text digest."""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.services.alert_digest import DigestItem, digest_message
from dealpulse.services.alert_webhooks import slack_escape, webhook_payload
from dealpulse.store import Alert

EVIL = "<!channel> <https://evil.example|Click to renew> & <@U123>"
OUR_LINK = re.compile(r"<https://dealpulse\.example\.com/dashboard/deals/7\|open the deal>")


def _alert(reason: str = "No inbound email for 30 days") -> Alert:
    return Alert(id=1, opportunity_id=7, rule="gone_dark", severity="warning", state="open", reason=reason,
                 opened_at=datetime(2026, 1, 1, tzinfo=timezone.utc))


def _rendered_texts(payload: dict) -> list[str]:
    blocks = payload["blocks"]
    return [payload["text"], blocks[0]["text"]["text"], *(e["text"] for e in blocks[1]["elements"])]


def test_a_deal_named_like_a_slack_mention_or_link_reaches_the_payload_escaped():
    payload = webhook_payload(_alert(reason=f"Buyer wrote {EVIL}"), EVIL, "Rep <b>", "https://dealpulse.example.com")
    for text in _rendered_texts(payload):
        without_our_link = OUR_LINK.sub("", text)
        assert "<" not in without_our_link and ">" not in without_our_link, text
    assert "&lt;!channel&gt; &lt;https://evil.example|Click to renew&gt; &amp; &lt;@U123&gt;" in payload["text"]
    assert OUR_LINK.search(payload["blocks"][1]["elements"][0]["text"])
    assert payload["dealpulse"]["opportunity_id"] == 7  # the raw facts for machines are unchanged


@given(st.text(max_size=60), st.text(max_size=60))
def test_slack_escaping_hides_every_angle_bracket_and_reads_back_as_typed(deal, owner):
    payload = webhook_payload(_alert(), deal, owner, "https://dealpulse.example.com")
    section = payload["blocks"][0]["text"]["text"]
    assert "<" not in section and ">" not in section
    assert html.unescape(slack_escape(deal)) == deal
    assert section.startswith(f"*{slack_escape(deal)}* ({slack_escape(owner)})")


def test_the_plain_text_digest_keeps_each_value_on_its_line_and_offers_no_foreign_links():
    item = DigestItem(1, "Acme\n  https://evil.example/login\n\n[critical] Fake", "Rep", "warning",
                      "Said <https://evil.example>", "https://dealpulse.example.com/dashboard/deals/1")
    plain = digest_message("a@b", "m@b", "Manager\r\nBcc: x@y", [item]).get_body(("plain",)).get_content()
    lines = plain.splitlines()
    assert not any(line.strip().startswith("https://evil") for line in lines)
    assert not any(line.startswith("[critical]") for line in lines)
    assert "<https://evil.example>" not in plain and "\u2039https://evil.example\u203a" in plain
    assert lines[0] == "Hello Manager Bcc: x@y,"
