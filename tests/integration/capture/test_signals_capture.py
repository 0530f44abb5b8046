"""Captured mail and meetings as signals (#14): true last inbound, automated mail, closed deals, ambiguous emails.

Mail and events go through the Google stand-in and the real sync, as in production; the figures are read back
through the API, the sidebar and the alert rules, which must agree.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from dealpulse.services.alert_engine import run_alerts
from dealpulse.standins.google_calendar_server import Attendee
from dealpulse.store import Activity, Alert

from .conftest import connect, raw_mail, run_sync, stored_activity

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
CIO = "cio@globex.test.example"
TECH = "tech@acme.test.example"  # a contact on no deal's buying team


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _dynamics(client, world, deal_id: int, who: str = "rep.a1") -> dict:
    response = client.get(f"/api/v1/opportunities/{deal_id}/dynamics", headers=world.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _context(client, world, message_id: str, who: str = "rep.a1") -> dict:
    response = client.post("/api/v1/context", json={"message_id": message_id}, headers=world.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _unresolved(db, deal_id: int, rule: str) -> list[Alert]:
    with db.uow() as uow:
        return list(uow.s.scalars(select(Alert).where(
            Alert.opportunity_id == deal_id, Alert.rule == rule, Alert.state.in_(("open", "acknowledged")))))


def _create_deal(client, world, name: str, account: str, stage: str = "qualification") -> int:
    response = client.post("/api/v1/opportunities", headers=world.auth("rep.a1"),
                           json={"name": name, "account_id": world.accounts[account], "stage": stage, "amount": "1000"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def test_a_future_meeting_is_not_last_inbound_and_a_declined_one_never_counts(db, world, settings, google, client):
    box = connect(db, settings, google, REP)
    sent = _now() - timedelta(days=12)
    google.add_message(REP, raw_mail(BUYER, [REP], "Pricing", message_id="old-1@acme.test.example", when=sent))
    soon = _now() + timedelta(days=9)
    google.add_event(REP, summary="Contract review", start=soon, end=soon + timedelta(hours=1),
                     attendees=[Attendee(REP, "Rep", "accepted"), Attendee(BUYER, "Ann", "accepted")], organizer=REP,
                     ical_uid="future@seller.example")
    past = _now() - timedelta(days=3)
    google.add_event(REP, summary="Check-in", start=past, end=past + timedelta(hours=1),
                     attendees=[Attendee(REP, "Rep", "accepted"), Attendee(BUYER, "Ann", "declined")], organizer=REP,
                     ical_uid="declined@seller.example")
    run_sync(db, settings, box)
    opp = world.opportunities["a1_acme"]

    dynamics = _dynamics(client, world, opp)
    pane = _context(client, world, "old-1@acme.test.example")["timeline"]
    assert datetime.fromisoformat(dynamics["last_inbound_at"]) == sent.replace(microsecond=0)
    assert pane["last_inbound_at"] == dynamics["last_inbound_at"]  # one figure everywhere
    assert dynamics["upcoming_meetings_count"] == 1 and dynamics["meetings_count"] == 0
    assert pane["upcoming_meetings"] == 1 and pane["meetings"] == 0
    with db.uow() as uow:
        declined = uow.s.scalar(select(Activity).where(Activity.dedupe_key == "ical:declined@seller.example"))
        assert declined.contact_exclusion == "declined"


@pytest.mark.parametrize("headers, subject, sender, kind", [
    ({"Auto-Submitted": "auto-replied"}, "Automatic reply: Pricing", BUYER, "out_of_office"),
    ({}, "Out of Office: Pricing", BUYER, "out_of_office"),
    ({"Precedence": "bulk", "List-Id": "<news.acme.test.example>"}, "Acme newsletter", BUYER, "mailing_list"),
    ({}, "Undeliverable: Pricing", "postmaster@acme.test.example", "delivery_receipt"),
])
def test_automated_mail_is_stored_but_never_resets_gone_dark_or_counts_as_engagement(
    db, world, settings, google, client, headers, subject, sender, kind
):
    box = connect(db, settings, google, REP)
    sent = _now() - timedelta(days=30)
    google.add_message(REP, raw_mail(BUYER, [REP], "Pricing", message_id="first@acme.test.example", when=sent))
    run_sync(db, settings, box)
    opp = world.opportunities["a1_acme"]
    run_alerts(db, settings, world.org_id)
    assert _unresolved(db, opp, "gone_dark")

    google.add_message(REP, raw_mail(sender, [REP], subject, "I am away until Monday with no access to email.",
                                     message_id="auto@acme.test.example", when=_now() - timedelta(hours=1), headers=headers))
    run_sync(db, settings, box)  # capture's alert hook runs on the new activity

    auto = stored_activity(db, "auto@acme.test.example")
    assert auto.contact_exclusion == kind and auto.opportunity_id == opp
    assert _unresolved(db, opp, "gone_dark"), "an automated reply is not the buyer answering"
    dynamics = _dynamics(client, world, opp)
    assert datetime.fromisoformat(dynamics["last_inbound_at"]) == sent.replace(microsecond=0)
    assert dynamics["inbound_count"] == 1 and dynamics["automated_count"] == 1
    assert [c["contact_id"] for c in dynamics["engaged_buyer_contacts"]] == []  # the buyer last wrote 30 days ago


def test_a_closed_deals_thread_stays_on_the_closed_deal(db, world, settings, google, client):
    box = connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(CIO, [REP], "Expansion", message_id="exp-1@globex.test.example",
                                     when=_now() - timedelta(days=20)))
    run_sync(db, settings, box)
    closed = world.opportunities["a1_globex"]
    assert stored_activity(db, "exp-1@globex.test.example").opportunity_id == closed
    current = client.get(f"/api/v1/opportunities/{closed}", headers=world.auth("rep.a1")).get_json()
    assert client.patch(f"/api/v1/opportunities/{closed}", headers=world.auth("rep.a1"),
                        json={"version": current["version"], "stage": "closed_lost"}).status_code == 200
    phase_two = _create_deal(client, world, "Test Globex phase 2", "globex")

    google.add_message(REP, raw_mail(CIO, [REP], "Re: Expansion", "We have decided not to proceed.",
                                     message_id="exp-2@globex.test.example", in_reply_to="exp-1@globex.test.example",
                                     when=_now() - timedelta(hours=2)))
    run_sync(db, settings, box)

    reply = stored_activity(db, "exp-2@globex.test.example")
    assert reply.opportunity_id == closed and reply.link_method == "thread"
    assert _dynamics(client, world, phase_two)["inbound_count"] == 0
    assert _dynamics(client, world, closed)["inbound_count"] == 2
    shown = _context(client, world, "exp-2@globex.test.example")
    assert shown["opportunity"]["id"] == closed and shown["opportunity"]["stage"]["is_closed"] is True


def test_an_ambiguous_email_counts_toward_no_deal_until_the_rep_chooses(db, world, settings, google, client):
    second = _create_deal(client, world, "Test Acme add-on", "acme", stage="proposal")
    first = world.opportunities["a1_acme"]
    box = connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(TECH, [REP], "Proposal", "Here is our feedback on the proposal.",
                                     message_id="prop@acme.test.example", when=_now() - timedelta(hours=3)))
    run_sync(db, settings, box)

    email = stored_activity(db, "prop@acme.test.example")
    assert email.opportunity_id is None and email.needs_link_choice
    assert {first, second} <= set(email.link_candidates)  # rep.b1's Acme deal matches too; rep.a1 cannot see it
    for deal in (first, second):
        assert _dynamics(client, world, deal)["inbound_count"] == 0
    waiting = client.get("/api/v1/threads/needs-deal", headers=world.auth("rep.a1")).get_json()["items"]
    assert [w["activity_id"] for w in waiting] == [email.id]
    assert {c["id"] for c in waiting[0]["candidates"]} == {first, second}
    assert client.get("/api/v1/threads/needs-deal", headers=world.auth("rep.b1")).get_json()["items"] == []
    shown = _context(client, world, "prop@acme.test.example")
    assert shown["status"] == "choose" and shown["opportunity"] is None

    chosen = client.put("/api/v1/threads/link", headers=world.auth("rep.a1"),
                        json={"thread_key": email.thread_key, "opportunity_id": second})
    assert chosen.status_code == 200
    assert _dynamics(client, world, second)["inbound_count"] == 1
    assert client.get("/api/v1/threads/needs-deal", headers=world.auth("rep.a1")).get_json()["items"] == []
    google.add_message(REP, raw_mail(TECH, [REP], "Re: Proposal", "One more question.", message_id="prop-2@acme.test.example",
                                     in_reply_to="prop@acme.test.example", when=_now() - timedelta(hours=1)))
    run_sync(db, settings, box)
    assert stored_activity(db, "prop-2@acme.test.example").opportunity_id == second  # later mail follows the choice


def _buyer_meeting(google, when: datetime, uid: str, buyer_answer: str = "accepted") -> str:
    return google.add_event(REP, summary="Check-in", start=when, end=when + timedelta(hours=1),
                            attendees=[Attendee(REP, "Rep", "accepted"), Attendee(BUYER, "Ann", buyer_answer)],
                            organizer=REP, ical_uid=uid)


@pytest.mark.parametrize("change", ["cancelled", "declined"])
def test_a_held_buyer_meeting_cancelled_or_declined_later_opens_gone_dark_right_after_that_sync(
    db, world, settings, google, client, change
):
    """The buyer last wrote 30 days ago but met the rep 3 days ago; when that meeting turns out cancelled (or
    declined), the deal has gone dark, and the sync that learns it says so without waiting for the sweep."""
    box = connect(db, settings, google, REP)
    wrote = _now() - timedelta(days=30)
    google.add_message(REP, raw_mail(BUYER, [REP], "Pricing", message_id="pricing@acme.test.example", when=wrote))
    met = (_now() - timedelta(days=3)).replace(microsecond=0)
    event = _buyer_meeting(google, met, "held@seller.example")
    run_sync(db, settings, box)
    opp = world.opportunities["a1_acme"]
    assert not _unresolved(db, opp, "gone_dark")
    assert datetime.fromisoformat(_dynamics(client, world, opp)["last_inbound_at"]) == met

    if change == "cancelled":
        google.calendar(REP).cancel_event(event)
    else:
        google.calendar(REP).update_event(event, attendees=[Attendee(REP, "Rep", "accepted"), Attendee(BUYER, "Ann", "declined")])
    run_sync(db, settings, box)  # no sweep: only the capture hook

    assert [a.severity for a in _unresolved(db, opp, "gone_dark")] == ["warning"]
    assert datetime.fromisoformat(_dynamics(client, world, opp)["last_inbound_at"]) == wrote.replace(microsecond=0)


def test_a_future_meeting_moved_into_the_past_counts_once_it_has_happened(db, world, settings, google, client):
    box = connect(db, settings, google, REP)
    wrote = _now() - timedelta(days=30)
    google.add_message(REP, raw_mail(BUYER, [REP], "Pricing", message_id="pricing@acme.test.example", when=wrote))
    event = _buyer_meeting(google, _now() + timedelta(days=9), "moved@seller.example")
    run_sync(db, settings, box)
    opp = world.opportunities["a1_acme"]
    assert _unresolved(db, opp, "gone_dark"), "a meeting next week is not contact yet"

    held = (_now() - timedelta(hours=2)).replace(microsecond=0)
    google.calendar(REP).update_event(event, start=held, end=held + timedelta(hours=1))
    run_sync(db, settings, box)

    assert not _unresolved(db, opp, "gone_dark"), "the meeting happened: the buyer is talking to us"
    dynamics = _dynamics(client, world, opp)
    assert datetime.fromisoformat(dynamics["last_inbound_at"]) == held
    assert dynamics["meetings_count"] == 1 and dynamics["upcoming_meetings_count"] == 0
