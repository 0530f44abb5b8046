"""Meeting outcomes (#18): after a meeting with the buyer ended, the rep records how it went; audited; a meeting
without one two days later is a gentle to-do; the deal page shows both."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
from sqlalchemy import select

from dealpulse.store import Activity, AuditEntry, MeetingOutcome
from tests.integration.alerts.test_dashboard_pages import sign_in

BUYER = [{"email": "buyer@acme.test.example", "name": "Ann Buyer", "role": "attendee"},
         {"email": "rep.a1@seller.example", "name": "Rep A1", "role": "attendee"}]


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def meeting(db, deals, days_ago: float, participants=BUYER) -> int:
    activity_id = deals.activity("a1_acme", kind="meeting", direction="outbound", days_ago=days_ago)
    with db.uow() as uow:
        uow.s.get(Activity, activity_id).participants = participants
        uow.commit()
    return activity_id


def test_the_rep_records_how_an_ended_meeting_went_and_it_is_audited(client, db, world, deals):
    held = meeting(db, deals, days_ago=3)
    body = {"outcome": "positive", "next_step": "Send the order form", "note": "CFO joined"}
    answer = client.put(f"/api/v1/activities/{held}/outcome", json=body, headers=world.auth("rep.a1"))
    assert answer.status_code == 200, answer.json
    assert (answer.json["outcome"], answer.json["recorded_by"]) == ("positive", "Test Rep A1")
    changed = client.put(f"/api/v1/activities/{held}/outcome", json={**body, "outcome": "neutral"}, headers=world.auth("rep.a1"))
    assert changed.json["outcome"] == "neutral"
    with db.uow() as uow:
        assert uow.s.scalars(select(MeetingOutcome.outcome)).all() == ["neutral"]
        audited = uow.s.scalars(select(AuditEntry.new_value).where(AuditEntry.entity_type == "meeting_outcome",
                                                                   AuditEntry.field == "outcome")).all()
    assert audited == ['"positive"', '"neutral"']


def test_outcomes_are_refused_for_the_future_without_buyers_and_for_others(client, db, world, deals):
    upcoming = meeting(db, deals, days_ago=-1)
    internal = meeting(db, deals, days_ago=1, participants=[{"email": "rep.a2@seller.example", "role": "attendee"}])
    held = meeting(db, deals, days_ago=1)
    body = {"outcome": "positive"}
    assert client.put(f"/api/v1/activities/{upcoming}/outcome", json=body, headers=world.auth("rep.a1")).status_code == 422
    assert client.put(f"/api/v1/activities/{internal}/outcome", json=body, headers=world.auth("rep.a1")).status_code == 422
    assert client.put(f"/api/v1/activities/{held}/outcome", json={"outcome": "great"}, headers=world.auth("rep.a1")).status_code == 422
    for who in ("rep.a2", "manager.b"):
        assert client.put(f"/api/v1/activities/{held}/outcome", json=body, headers=world.auth(who)).status_code == 404
    with db.uow() as uow:
        assert uow.s.scalars(select(MeetingOutcome)).all() == []


def test_a_meeting_without_outcome_after_two_days_is_a_gentle_todo_on_the_deal_page(client, db, world, deals):
    old = meeting(db, deals, days_ago=3)
    meeting(db, deals, days_ago=1)  # too recent to nag about
    todo = client.get("/api/v1/meetings/awaiting-outcome", headers=world.auth("rep.a1")).json["items"]
    assert [m["activity_id"] for m in todo] == [old]
    assert client.get("/api/v1/meetings/awaiting-outcome", headers=world.auth("rep.b1")).json["items"] == []
    csrf = sign_in(client, world, "rep.a1")
    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    assert "Meetings waiting for their outcome" in page and f'id="outcome-{old}"' in page
    saved = client.post(f"/dashboard/meetings/{old}/outcome", data={
        "csrf_token": csrf, "outcome": "negative", "next_step": "Escalate <pricing>", "note": "",
        "next": f"/dashboard/deals/{world.opportunities['a1_acme']}"})
    assert saved.status_code == 303
    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    assert "Meetings waiting for their outcome" not in text and "Outcome: negative · next step: Escalate <pricing>" in text
