"""`POST /api/v1/context`: matching an open email to its deal, tone live or stored, timeline, alerts, privacy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from dealpulse.store import Activity, Alert, SentimentScore

ACME_BUYER = "buyer@acme.test.example"


def context(client, world, who="rep.a1", **body):
    response = client.post("/api/v1/context", json=body, headers=world.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_captured_email_is_matched_by_message_id_with_its_stored_tone(client, world, inbox, active_tone):
    stored = inbox.email(label="negative", text="We picked a competitor after the final review.")
    data = context(client, world, message_id=f"<{stored.message_id}>", **{"from": ACME_BUYER})
    assert data["status"] == "matched"
    assert data["match_method"] == "message_id"
    assert data["opportunity"]["id"] == world.opportunities["a1_acme"]
    assert data["contact"]["email"] == ACME_BUYER and data["contact"]["role"] == "economic_buyer"
    assert data["account"]["name"] == "Test Acme"
    assert data["email"]["captured"] is True and data["email"]["id"] == stored.activity_id
    assert data["email"]["tone"]["label"] == "negative" and data["email"]["tone"]["stored"] is True
    assert data["email"]["tone"]["highlights"][0]["text"].startswith("We picked a competitor")
    assert [q["key"] for q in data["opportunity"]["exit_questions"]] == [
        "clear_use_case", "meets_technical_requirements", "within_budget"]
    assert data["opportunity"]["exit_questions"][0]["answer"] is True
    assert [s["key"] for s in data["stages"]][:2] == ["qualification", "demo"]


def test_provider_id_finds_the_email_when_the_client_has_no_message_id(client, world, inbox, active_tone):
    stored = inbox.email(label="positive")
    data = context(client, world, provider_id=stored.provider_id)
    assert data["match_method"] == "provider_id"
    assert data["email"]["id"] == stored.activity_id


def test_an_email_not_captured_yet_is_matched_by_participants_and_scored_without_storing(client, world, db, active_tone):
    with db.uow() as uow:
        before = (uow.s.scalar(select(func.count(Activity.id))), uow.s.scalar(select(func.count(SentimentScore.id))))
    data = context(client, world, message_id="<new-1@acme.test.example>", to=["rep.a1@seller.example"],
                   subject="Decision", body="We have decided to go with another provider.\n\nAnn",
                   **{"from": f"Ann Buyer <{ACME_BUYER}>"})
    assert data["status"] == "matched"
    assert data["opportunity"]["id"] == world.opportunities["a1_acme"]  # b1_acme is rep.b1's, invisible to rep.a1
    assert data["email"]["captured"] is False
    tone = data["email"]["tone"]
    assert tone["stored"] is False and tone["model_version"] == active_tone
    assert tone["label"] in ("negative", "neutral", "positive") and -1.0 <= tone["score"] <= 1.0
    with db.uow() as uow:
        after = (uow.s.scalar(select(func.count(Activity.id))), uow.s.scalar(select(func.count(SentimentScore.id))))
    assert after == before


def test_before_any_tone_model_is_built_the_deal_still_shows_and_the_tone_says_it_is_pending(client, world, settings):
    data = context(client, world, message_id="<new-2@acme.test.example>", to=["rep.a1@seller.example"],
                   subject="Decision", body="We have decided to go with another provider.",
                   **{"from": f"Ann Buyer <{ACME_BUYER}>"})
    assert data["status"] == "matched" and data["opportunity"]["id"] == world.opportunities["a1_acme"]
    assert data["email"]["tone"] is None and data["email"]["tone_pending"] is True
    assert not any(Path(settings.model_dir).glob("*/config.json")), "a web request must never train a model"


def test_several_visible_deals_give_candidates_and_the_choice_sticks_for_the_thread(client, world, inbox, active_tone):
    # The admin sees both open Acme deals (rep.a1's and rep.b1's), owns neither, and Tim is on neither buying team:
    # the email needs a choice.
    body = {"message_id": "<ask@acme.test.example>", "from": "tech@acme.test.example", "to": ["admin@seller.example"]}
    data = context(client, world, "admin", **body)
    assert data["status"] == "choose" and data["opportunity"] is None
    ids = {c["id"] for c in data["candidates"]}
    assert ids == {world.opportunities["a1_acme"], world.opportunities["b1_acme"]}
    chosen = world.opportunities["b1_acme"]
    response = client.put("/api/v1/threads/link", json={"thread_key": data["thread_key"], "opportunity_id": chosen},
                          headers=world.auth("admin"))
    assert response.status_code == 200, response.get_json()
    again = context(client, world, "admin", **body)
    assert again["status"] == "matched" and again["opportunity"]["id"] == chosen
    reply = context(client, world, "admin", message_id="<reply@acme.test.example>", in_reply_to="<ask@acme.test.example>",
                    references=["<ask@acme.test.example>"], **{"from": "tech@acme.test.example"})
    assert reply["opportunity"]["id"] == chosen


def test_linking_moves_captured_emails_of_the_thread(client, world, inbox, db, active_tone):
    first = inbox.email(opportunity=None, needs_link_choice=True, candidates=("a1_acme", "a1_globex"), label="neutral")
    inbox.email(thread_key=first.thread_key, opportunity="a1_acme", label="neutral")
    data = context(client, world, message_id=first.message_id)
    assert data["status"] == "choose"
    target = world.opportunities["a1_globex"]
    response = client.put("/api/v1/threads/link", json={"thread_key": first.thread_key, "opportunity_id": target},
                          headers=world.auth("rep.a1"))
    assert response.get_json()["activities"] == 2
    with db.uow() as uow:
        rows = uow.s.scalars(select(Activity).where(Activity.thread_key == first.thread_key)).all()
        assert {(a.opportunity_id, a.needs_link_choice) for a in rows} == {(target, False)}
    history = client.get(f"/api/v1/opportunities/{target}/history", headers=world.auth("rep.a1")).get_json()["items"]
    assert history[0]["field"] == "linked_thread" and history[0]["new"] == first.thread_key


def test_timeline_counts_last_inbound_and_tone_trend(client, world, inbox, active_tone):
    inbox.email(days_ago=9, score=0.7)
    inbox.email(days_ago=6, direction="outbound", sender="rep.a1@seller.example", to=(ACME_BUYER,))
    inbox.email(days_ago=5, score=0.1)
    latest = inbox.email(days_ago=2, score=-0.6)
    data = context(client, world, message_id=latest.message_id)
    timeline = data["timeline"]
    assert (timeline["inbound"], timeline["outbound"]) == (3, 1)
    assert timeline["last_inbound_at"][:16] == (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()[:16]
    assert [p["score"] for p in timeline["tone_trend"]] == [0.7, 0.1, -0.6]  # oldest first
    assert timeline["recent"][0]["id"] == latest.activity_id


def test_open_alerts_of_the_deal_are_shown_and_resolved_ones_are_not(client, world, inbox, db, active_tone):
    stored = inbox.email(label="negative")
    opp = world.opportunities["a1_acme"]
    with db.uow() as uow:
        uow.s.add(Alert(org_id=world.org_id, opportunity_id=opp, rule="gone_dark", state="resolved", reason="old"))
        uow.s.add(Alert(org_id=world.org_id, opportunity_id=opp, rule="falling_tone", severity="critical",
                        reason="Tone fell from +0.6 to -0.5 over the last 4 inbound emails"))
        uow.commit()
    alerts = context(client, world, message_id=stored.message_id)["alerts"]
    assert [(a["rule"], a["severity"]) for a in alerts] == [("falling_tone", "critical")]


def test_private_thread_hides_content_from_the_manager_but_not_metadata(client, world, inbox, active_tone):
    stored = inbox.email(subject="Personal: dinner", label="positive", text="Lovely to see you, dinner was great.")
    response = client.put("/api/v1/threads/private", json={"thread_key": stored.thread_key, "is_private": True},
                          headers=world.auth("manager.a"))
    assert response.status_code == 404  # no email of the manager's in this thread: only the reps who received it
    response = client.put("/api/v1/threads/private", json={"thread_key": stored.thread_key, "is_private": True},
                          headers=world.auth("rep.a1"))
    assert response.status_code == 200
    mine = context(client, world, message_id=stored.message_id)
    assert mine["email"]["subject"] == "Personal: dinner" and mine["email"]["tone"]["highlights"]
    assert mine["thread_private"] is True
    theirs = context(client, world, "manager.a", message_id=stored.message_id)
    assert theirs["opportunity"]["id"] == world.opportunities["a1_acme"]
    assert theirs["email"]["content_hidden"] is True
    assert theirs["email"]["subject"] == "" and theirs["email"]["tone"]["highlights"] == []
    assert "dinner" not in str(theirs)
    assert client.put(f"/api/v1/activities/{stored.activity_id}/rating", json={"label": "neutral"},
                      headers=world.auth("manager.a")).status_code == 403


def test_another_organisation_never_sees_our_email_or_deals(client, world, inbox, active_tone):
    stored = inbox.email(label="negative")
    data = context(client, world, "other.rep.a1", message_id=stored.message_id, **{"from": ACME_BUYER})
    assert data["opportunity"] is None and data["email"]["captured"] is False
    assert data["candidates"] == [] and data["account"] is None
    assert data["status"] == "no_customer"


def test_rep_of_another_team_does_not_see_the_deal(client, world, inbox, active_tone):
    stored = inbox.email(label="negative")
    data = context(client, world, "rep.a2", message_id=stored.message_id, **{"from": ACME_BUYER})
    assert data["opportunity"] is None and data["email"]["captured"] is False
    assert data["status"] == "no_deal" and data["candidates"] == []


def test_bad_context_requests_get_clear_errors(client, world):
    response = client.post("/api/v1/context", json={"subject": "hi"}, headers=world.auth("rep.a1"))
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "message_id"
    response = client.post("/api/v1/context", json={"message_id": "x", "colour": "red"}, headers=world.auth("rep.a1"))
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "colour"
    response = client.post("/api/v1/context", data="not json", headers=world.auth("rep.a1"))
    assert response.status_code == 422
    assert client.post("/api/v1/context", json={"message_id": "x"}).status_code == 401
