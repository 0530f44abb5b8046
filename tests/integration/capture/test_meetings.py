"""Calendar events become meeting activities: deduplicated on iCalUID, customers only, cancellations removed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from dealpulse.standins.google_calendar_server import Attendee
from dealpulse.store import Activity, ActivitySource

from .conftest import connect, run_sync

REP = "rep.a1@seller.example"
REP2 = "rep.a2@seller.example"
BUYER = "buyer@acme.test.example"


def test_meetings_with_customers_are_stored_once_and_internal_or_cancelled_ones_are_not(db, world, settings, google):
    box1 = connect(db, settings, google, REP)
    box2 = connect(db, settings, google, REP2)
    start = datetime.now(timezone.utc) - timedelta(days=2)
    people = [Attendee(REP, "Rep", "accepted"), Attendee(REP2, "Rep 2", "accepted"), Attendee(BUYER, "Ann Buyer", "accepted")]
    for owner in (REP, REP2):
        google.add_event(owner, summary="Pricing workshop", start=start, end=start + timedelta(hours=1), attendees=people,
                         organizer=REP, ical_uid="workshop-1@seller.example")
    google.add_event(REP, summary="Team stand-up", start=start, end=start + timedelta(minutes=15),
                     attendees=[Attendee(REP), Attendee(REP2)], organizer=REP, ical_uid="standup@seller.example")
    cancelled = google.add_event(REP, summary="Cancelled demo", start=start, end=start + timedelta(hours=1),
                                 attendees=[Attendee(REP), Attendee(BUYER)], organizer=REP, ical_uid="demo-2@seller.example")

    run_sync(db, settings, box1)
    run_sync(db, settings, box2)
    with db.uow() as uow:
        assert uow.s.scalar(select(Activity.subject).where(Activity.dedupe_key == "ical:demo-2@seller.example")) == "Cancelled demo"
    google.calendar(REP).cancel_event(cancelled)
    run_sync(db, settings, box1)

    with db.uow() as uow:
        meetings = uow.s.scalars(select(Activity).where(Activity.kind == "meeting")).all()
        assert [m.dedupe_key for m in meetings] == ["ical:workshop-1@seller.example"]
        meeting = meetings[0]
        copies = set(uow.s.scalars(select(ActivitySource.mailbox_id).where(ActivitySource.activity_id == meeting.id)))
        assert copies == {box1, box2}
        assert meeting.direction == "inbound" and meeting.ends_at is not None
        assert {p["email"] for p in meeting.participants} == {REP, REP2, BUYER}
        assert meeting.opportunity_id == world.opportunities["a1_acme"]
