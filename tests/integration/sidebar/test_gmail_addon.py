"""The Gmail add-on end to end: Google-signed requests, the open message read from Gmail, card actions."""

from __future__ import annotations

import json

from sqlalchemy import select

from dealpulse.standins.google_identity import subject_for
from dealpulse.store import ActivityNote, Opportunity, Rating, User
from tests.integration.sidebar.gmail_events import (
    ADDON_SA,
    BASE_URL,
    GOOGLE_CLIENT,
    AddonClient,
    button_state,
    google,
    settings,
    strings,
    updated_card,
)

__all__ = ["google", "settings"]


def _texts(card):
    return json.dumps(card, ensure_ascii=False)


def test_an_open_uncaptured_email_shows_its_deal_and_live_tone(client, google, world, active_tone):
    addon = AddonClient(client, google)
    gmail_id = addon.deliver(sender="Ann Buyer <buyer@acme.test.example>", subject="Decision",
                             body="We have decided to go with another provider.", message_id="dec-1@acme.test.example")
    card = addon.open(gmail_id)
    assert card["header"]["title"] == "Test Acme platform"
    assert "scored just now, not stored" in _texts(card)
    assert "You can rate this email once DealPulse has captured it" in _texts(card)


def test_card_actions_save_the_deal_rate_and_note(client, google, world, inbox, db, active_tone):
    stored = inbox.email(label="negative", text="We will not proceed with the purchase.")
    addon = AddonClient(client, google)
    gmail_id = addon.deliver(sender="buyer@acme.test.example", subject="Pricing", body="We will not proceed.",
                             message_id=stored.message_id)
    card = addon.open(gmail_id)
    body = addon.press(card, "Save deal", gmail_id, form={"stage": strings("demo"), "next_step": strings("Demo Friday"),
                                                          "amount": strings("50000.00")})
    assert body["renderActions"]["action"]["notification"]["text"] == "Deal saved"
    card = updated_card(body)
    body = addon.press(card, "Neutral", gmail_id, form={"rating_note": strings("they always say that")})
    card = updated_card(body)
    assert "✓ Neutral" in _texts(card)
    addon.press(card, "Add note", gmail_id, form={"note_text": strings("Call Ann")})
    with db.uow() as uow:
        opp = uow.s.get(Opportunity, world.opportunities["a1_acme"])
        assert (opp.next_step, opp.version) == ("Demo Friday", 2)
        rating = uow.s.scalars(select(Rating)).one()
        assert (rating.label, rating.note, rating.model_label) == ("neutral", "they always say that", "negative")
        assert uow.s.scalars(select(ActivityNote.text)).all() == ["Call Ann"]
    history = client.get(f"/api/v1/opportunities/{world.opportunities['a1_acme']}/history",
                         headers=world.auth("rep.a1")).get_json()["items"]
    assert {h["surface"] for h in history if h["version"] == 2} == {"gmail"}


def test_a_stale_card_says_who_changed_what_and_saves_nothing(client, google, world, inbox, db, active_tone):
    stored = inbox.email(label="neutral")
    addon = AddonClient(client, google)
    gmail_id = addon.deliver(sender="buyer@acme.test.example", subject="Hi", body="Hello", message_id=stored.message_id)
    card = addon.open(gmail_id)
    opp_id = world.opportunities["a1_acme"]
    assert client.patch(f"/api/v1/opportunities/{opp_id}", json={"version": 1, "next_step": "Exec call"},
                        headers=world.auth("manager.a")).status_code == 200
    body = addon.press(card, "Save deal", gmail_id, form={"stage": strings("proposal")})
    notice = json.dumps(updated_card(body), ensure_ascii=False)
    assert "Test Manager A changed next step meanwhile" in notice and "stage → proposal" in notice
    with db.uow() as uow:
        assert uow.s.get(Opportunity, opp_id).next_step == "Exec call"
        assert uow.s.get(Opportunity, opp_id).version == 2


def test_action_state_is_signed_and_bound_to_the_user(client, google, world, inbox, db, active_tone):
    stored = inbox.email(label="neutral")
    addon = AddonClient(client, google)
    gmail_id = addon.deliver(sender="buyer@acme.test.example", subject="Hi", body="Hello", message_id=stored.message_id)
    card = addon.open(gmail_id)
    state = button_state(card, "Positive")
    tampered = state[:10] + ("A" if state[10] != "A" else "B") + state[11:]
    assert addon.post("action", addon.event(gmail_id, parameters={"state": tampered})).status_code == 401
    assert addon.post("action", addon.event(gmail_id, parameters={})).status_code == 401
    other = AddonClient(client, google, "rep.a2@seller.example")
    assert other.post("action", other.event(None, parameters={"state": state})).status_code == 401
    with db.uow() as uow:
        assert uow.s.scalars(select(Rating)).all() == []


def test_requests_without_genuine_google_tokens_are_refused(client, google, world):
    addon = AddonClient(client, google)
    event = addon.event()
    assert addon.post("homepage", event, authorization="").status_code == 401
    wrong_audience = "Bearer " + google.issue_id_token(BASE_URL + "/gmail/addon/message", ADDON_SA)
    assert addon.post("homepage", event, authorization=wrong_audience).status_code == 401
    wrong_account = "Bearer " + google.issue_id_token(BASE_URL + "/gmail/addon/homepage", "evil@example.com")
    assert addon.post("homepage", event, authorization=wrong_account).status_code == 401
    forged_user = dict(event, authorizationEventObject={"userIdToken": google.issue_id_token("x", "rep.a1@seller.example", kid="forged")})
    assert addon.post("homepage", forged_user).status_code == 401
    assert client.post("/gmail/addon/homepage", data="nope", headers={"Authorization": "Bearer x"}).status_code in (401, 422)


def test_homepage_lists_my_open_deals_and_unknown_users_get_a_clear_card(client, google, world):
    card = AddonClient(client, google).post("homepage", AddonClient(client, google).event()).get_json()
    texts = json.dumps(card)
    assert "Test Acme platform" in texts and "Test Globex expansion" in texts and "Initech" not in texts
    stranger = AddonClient(client, google, "stranger@seller.example")
    body = stranger.post("homepage", stranger.event()).get_json()
    assert body["action"]["navigations"][0]["pushCard"]["header"]["title"] == "No DealPulse account"


# -- audit finding 10: replayed presses change nothing; users are bound to their Google `sub` --------------------
def _notes(db) -> list[str]:
    with db.uow() as uow:
        return list(uow.s.scalars(select(ActivityNote.text).order_by(ActivityNote.id)))


def _open_captured_email(addon: AddonClient, inbox, text: str) -> tuple[str, dict]:
    """Capture a buyer email, deliver it to Gmail and open it: (Gmail id, card)."""
    message_id = inbox.email(label="neutral", text=text).message_id
    gmail_id = addon.deliver(sender="buyer@acme.test.example", subject=text, body=text, message_id=message_id)
    return gmail_id, addon.open(gmail_id)


def test_a_replayed_add_note_press_adds_no_second_note(client, google, world, inbox, db, active_tone):
    addon = AddonClient(client, google)
    gmail_id, card = _open_captured_email(addon, inbox, "Let us talk next week.")
    press = addon.event(gmail_id, form={"note_text": strings("Call Ann")},
                        parameters={"state": button_state(card, "Add note")})
    first = addon.post("action", press).get_json()
    assert first["renderActions"]["action"]["notification"]["text"] == "Note added"
    replay = addon.post("action", press).get_json()  # the same request again (network retry or replay)
    assert replay["renderActions"]["action"]["notification"]["text"] == "Already done"
    assert _notes(db) == ["Call Ann"]
    # The refreshed card's button is a new press.
    addon.press(updated_card(first), "Add note", gmail_id, form={"note_text": strings("Send pricing")})
    assert _notes(db) == ["Call Ann", "Send pricing"]


def test_the_add_on_binds_the_user_to_their_google_subject(client, google, world, db):
    addon = AddonClient(client, google)
    assert addon.post("homepage", addon.event()).status_code == 200
    with db.uow() as uow:
        assert uow.s.get(User, world.users["rep.a1"]).google_subject == subject_for("rep.a1@seller.example")
    # Another Google account presenting the same address (e.g. a re-created consumer account) is not that user.
    other = addon.event()
    other["authorizationEventObject"]["userIdToken"] = google.issue_id_token(
        GOOGLE_CLIENT, "rep.a1@seller.example", sub="999999999999999999999")
    card = addon.post("homepage", other).get_json()["action"]["navigations"][0]["pushCard"]
    assert "No DealPulse account" in str(card)


def test_the_card_changes_the_deal_adds_to_the_buying_team_and_says_not_a_deal(client, google, world, inbox, db, active_tone):
    from dealpulse.store import Activity

    stored = inbox.email(label="neutral", text="Loop in Priya for the security review.")
    addon = AddonClient(client, google)
    gmail_id = addon.deliver(sender="buyer@acme.test.example", subject="Security", body="Loop in Priya.",
                             message_id=stored.message_id)
    card = addon.open(gmail_id)
    assert "Buying team" in _texts(card) and "Ann Buyer" in _texts(card)
    body = addon.press(card, "Add to the buying team", gmail_id,
                       form={"member_address": strings("Priya Sec <priya@acme.test.example>"),
                             "member_role": strings("technical_evaluator")})
    assert body["renderActions"]["action"]["notification"]["text"] == "Added to the buying team"
    card = updated_card(body)
    assert "priya@acme.test.example" in _texts(card) and "Technical evaluator" in _texts(card)

    target = world.opportunities["a1_globex"]
    body = addon.press(card, "Move this conversation", gmail_id, form={"move_to": strings(str(target))})
    assert body["renderActions"]["action"]["notification"]["text"] == "Moved to the deal"
    card = updated_card(body)
    assert card["header"]["title"] == "Test Globex expansion"
    body = addon.press(card, "Move this conversation", gmail_id, form={"move_to": strings("none")})
    assert "not a deal" in _texts(updated_card(body))
    with db.uow() as uow:
        assert uow.s.get(Activity, stored.activity_id).opportunity_id is None
