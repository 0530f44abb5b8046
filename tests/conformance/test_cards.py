"""Gmail add-on conformance: every card the backend produces follows Google's schemas (the deployment descriptor:
test_gmail_deployment.py).

Cards are validated with `google.apps.card_v1.Card.from_json(..., ignore_unknown_fields=False)` (the vendor's
schema: widget typos, two members of a oneof, bad enums fail) and the response envelope with a JSON Schema
written from the Workspace add-ons documentation (Google publishes none).
"""

from __future__ import annotations

import copy
import html
import json

import jsonschema
import pytest
from google.apps import card_v1
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import update

from dealpulse.store import Alert, Mailbox
from dealpulse.web import cards
from tests.integration.sidebar.gmail_events import AddonClient, google, settings, strings, updated_card
from tests.integration.sidebar.support import active_tone, inbox, tiny_model_dir

__all__ = ["active_tone", "google", "inbox", "settings", "tiny_model_dir"]

_CARD = {"type": "object", "required": ["sections"], "properties": {"sections": {"type": "array", "minItems": 1}}}
_NAVIGATION = {
    "type": "object", "minProperties": 1, "maxProperties": 1,
    "properties": {"pushCard": _CARD, "updateCard": _CARD, "popCard": {"type": "boolean"}, "popToRoot": {"type": "boolean"},
                   "popToCard": {"type": "string"}},
    "additionalProperties": False,
}
_ACTION = {
    "type": "object", "required": ["navigations"], "additionalProperties": False,
    "properties": {
        "navigations": {"type": "array", "minItems": 1, "items": _NAVIGATION},
        "notification": {"type": "object", "required": ["text"], "additionalProperties": False,
                         "properties": {"text": {"type": "string", "minLength": 1}}},
    },
}
#: The HTTP runtime's response envelope: a trigger answers {action}, a button {renderActions: {action}}.
ENVELOPE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "oneOf": [
        {"type": "object", "required": ["action"], "additionalProperties": False, "properties": {"action": _ACTION}},
        {"type": "object", "required": ["renderActions"], "additionalProperties": False,
         "properties": {"renderActions": {"type": "object", "required": ["action"], "additionalProperties": False,
                                          "properties": {"action": _ACTION}}}},
    ],
}


def cards_in(envelope: dict) -> list[dict]:
    """The cards an envelope navigates to."""
    action = envelope.get("action") or envelope["renderActions"]["action"]
    return [n.get("pushCard") or n.get("updateCard") for n in action["navigations"]]


def assert_valid_response(envelope: dict) -> None:
    """Envelope against the JSON Schema, each card against google-apps-card."""
    jsonschema.validate(envelope, ENVELOPE_SCHEMA)
    for card in cards_in(envelope):
        card_v1.Card.from_json(json.dumps(card), ignore_unknown_fields=False)


def test_the_validators_catch_mistakes():
    bad_widget = {"sections": [{"widgets": [{"textParagraf": {"text": "x"}}]}]}
    with pytest.raises(Exception):
        card_v1.Card.from_json(json.dumps(bad_widget), ignore_unknown_fields=False)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": {"navigations": [{"pushCard": {"sections": []}, "updateCard": {}}]}}, ENVELOPE_SCHEMA)


def test_every_card_of_a_full_session_is_valid(client, google, world, inbox, db, active_tone):
    addon = AddonClient(client, google)
    stored = inbox.email(label="negative", text="We picked a competitor. <b>Really</b>.")
    with db.uow() as uow:
        uow.s.add(Alert(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], rule="falling_tone",
                        severity="critical", reason="Tone fell <fast>"))
        uow.commit()
    ambiguous = inbox.email(opportunity=None, needs_link_choice=True, candidates=("a1_acme", "a1_globex"), label="neutral")
    addon.post("homepage", addon.event())
    known = addon.deliver(sender="buyer@acme.test.example", subject="<script>x</script>", body="Hi",
                          message_id=stored.message_id)
    card = addon.open(known)
    card = updated_card(addon.press(card, "Mark thread private", known))
    card = updated_card(addon.press(card, "Add note", known, form={"note_text": strings("<i>note</i>")}))
    card = updated_card(addon.press(card, "Save answers", known, form={"exit_clear_use_case": strings("no")}))
    card = updated_card(addon.press(card, "Save role", known, form={"role": strings("champion")}))
    card = updated_card(addon.press(card, "Add to the buying team", known, form={
        "member_address": strings("<b>p</b>@acme.test.example"), "member_role": strings("user")}))  # invalid: a notice
    addon.press(card, "Save deal", known, form={"amount": strings("-5")})  # invalid: a notice card
    addon.press(card, "Save deal", known, form={"stage": strings("demo")})  # stale (answers bumped the version)
    choose = addon.deliver(sender="buyer@acme.test.example", subject="Which?", body="Hi", message_id=ambiguous.message_id)
    card = addon.open(choose)
    card = updated_card(addon.press(card, "This deal", choose))
    card = updated_card(addon.press(card, "Move this conversation", choose, form={"move_to": strings("none")}))
    addon.press(card, "Move this conversation", choose, form={"move_to": strings(str(world.opportunities["a1_globex"]))})
    fresh = addon.deliver(sender="new@initech.test.example", subject="Intro", body="Hello, can we talk?",
                          message_id="intro@initech.test.example")
    card = addon.open(fresh)
    addon.press(card, "Create deal", fresh, form={"new_name": strings("Initech for A1"), "new_stage": strings("qualification"),
                                                  "new_amount": strings("1000")})
    addon.open(addon.deliver(sender="x@unknown.example", subject="?", body="?", message_id="u@unknown.example"))
    addon.post("message", addon.event("no-such-message"))  # Gmail refuses: a message card
    with db.uow() as uow:
        uow.s.execute(update(Mailbox).values(sync_state="needs_reconnect"))
        uow.commit()
    addon.open(known)
    stranger = AddonClient(client, google, "stranger@seller.example")
    stranger.post("homepage", stranger.event())
    assert len(addon.responses) >= 14
    for envelope in addon.responses + stranger.responses:
        assert_valid_response(envelope)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subject=st.text(max_size=80), highlight=st.text(min_size=1, max_size=120), note=st.text(min_size=1, max_size=80))
def test_any_email_content_gives_a_valid_card_with_escaped_text(subject, highlight, note):
    context = copy.deepcopy(SAMPLE_CONTEXT)
    context["email"]["tone"]["highlights"] = [{"text": highlight, "label": "negative", "score": -0.5}]
    context["email"]["notes"] = [{"id": 1, "text": note, "author": {"id": 1, "name": subject}, "created_at": "2026-01-01"}]
    context["timeline"]["recent"][0]["subject"] = subject
    card = cards.context_card(context, lambda name, data: {"action": {"function": "https://x.example/a"}}, subject)
    assert_valid_response(cards.push_card(card))
    widgets = [w for section in card["sections"] for w in section["widgets"]]
    paragraphs = [w["textParagraph"]["text"] for w in widgets if "textParagraph" in w]
    decorated = [w["decoratedText"]["text"] for w in widgets if "decoratedText" in w]
    assert "<i>" + html.escape(highlight) + "</i>" in paragraphs
    assert html.escape(note) in decorated and html.escape(subject or "(no subject)") in decorated
    assert all("<" not in text for text in decorated)

SAMPLE_CONTEXT = {
    "status": "matched", "match_method": "message_id", "thread_key": "t@x", "thread_private": False,
    "contact": {"id": 1, "name": "Ann", "email": "ann@acme.example", "title": "CFO", "role": None},
    "account": {"id": 1, "name": "Acme", "industry": ""},
    "opportunity": {
        "id": 1, "name": "Acme", "account": {"id": 1, "name": "Acme"}, "owner": {"id": 1, "name": "Rep", "email": "r@x"},
        "stage": {"key": "demo", "name": "Demo", "is_closed": False, "is_won": False}, "amount": "100.00",
        "currency": "USD", "close_date": "2026-12-01", "next_step": "", "probability": 40,
        "stage_entered_at": "2026-01-01", "close_date_pushes": 0, "updated_at": "2026-01-01", "version": 1,
        "exit_questions": [{"key": "q", "text": "Q?", "answer": None, "answered_at": None}], "buying_team": [],
    },
    "candidates": [], "suggested_opportunity_id": 1,
    "email": {"id": 1, "captured": True, "kind": "email", "direction": "inbound", "subject": "s", "occurred_at": "2026-01-01",
              "is_private": False, "content_hidden": False, "is_mine": True,
              "tone": {"label": "negative", "score": -0.5, "confidence": 0.9, "highlights": [], "model_version": "v",
                       "stored": True, "content_hidden": False},
              "my_rating": None, "notes": []},
    "timeline": {"inbound": 1, "outbound": 0, "meetings": 0, "last_inbound_at": "2026-01-01", "last_outbound_at": None,
                 "tone_trend": [{"occurred_at": "2026-01-01", "score": -0.5, "label": "negative"}],
                 "recent": [{"id": 1, "kind": "email", "direction": "inbound", "subject": "s", "occurred_at": "2026-01-01",
                             "tone": "negative"}]},
    "alerts": [], "stages": [{"key": "demo", "name": "Demo", "is_closed": False}], "mailboxes": [],
    "buying_roles": ["champion"],
}
