"""Sync through the real Gmail connector against the stand-in: exactly-once storage, linking, failures, states."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from dealpulse.standins.faults import FaultPlan
from dealpulse.store import Activity, ActivityContact, ActivitySource, Mailbox, ThreadLink

from .conftest import activity_count, connect, dedupe_keys, raw_mail, run_sync, source_count, stored_activity, sync_until_idle

REP = "rep.a1@seller.example"
REP_ALIAS = "a1@seller.example"
REP2 = "rep.a2@seller.example"
BUYER = "buyer@acme.test.example"
TECH = "tech@acme.test.example"
CIO = "cio@globex.test.example"


def _load_customer_mail(google, owner: str, count: int, start: int = 0) -> list[bytes]:
    raws = []
    for i in range(start, start + count):
        sender, to = (BUYER, [owner]) if i % 2 else (owner, [CIO])
        raw = raw_mail(sender, to, subject=f"Deal update {i}", body=f"Message number {i}.\n\nBest,\nSomebody")
        labels = ["INBOX"] if i % 2 else ["SENT"]
        google.add_message(owner, raw, labels)
        raws.append(raw)
    return raws


def _mailbox(db, mailbox_id: int) -> Mailbox:
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        uow.s.expunge(box)
        return box


def test_full_then_incremental_sync_stores_every_customer_mail_once(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    _load_customer_mail(google, REP, 30)

    first = run_sync(db, capture_settings, box)
    assert first.state == "idle" and first.stored == 30
    _load_customer_mail(google, REP, 5, start=30)
    second = run_sync(db, capture_settings, box)

    assert second.stored == 5
    assert activity_count(db) == 35 and source_count(db, box) == 35
    state = _mailbox(db, box)
    assert state.sync_state == "idle" and state.last_synced_at is not None and state.mail_cursor
    again = run_sync(db, capture_settings, box)
    assert again.stored == 0 and activity_count(db) == 35


def test_twenty_percent_mixed_faults_still_store_every_message_exactly_once(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    _load_customer_mail(google, REP, 120)
    google.faults = FaultPlan(0.2, kinds=("429", "500", "503", "drop", "403"), seed=7, retry_after=0)

    results = sync_until_idle(db, capture_settings, box)

    assert sum(r.stored for r in results) == 120
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == 120
    assert source_count(db, box) == 120
    assert google.faults.count() > 10  # the faults really happened


def test_expired_history_cursor_triggers_full_resync_without_duplicates(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    _load_customer_mail(google, REP, 12)
    run_sync(db, capture_settings, box)
    _load_customer_mail(google, REP, 4, start=12)
    google.expire_history_before(REP, google.mailbox(REP).history_id)

    result = run_sync(db, capture_settings, box)

    assert result.state == "idle"
    assert result.stored == 4
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == 16
    assert source_count(db, box) == 16


def test_shared_thread_is_stored_once_with_a_source_in_each_mailbox(db, world, capture_settings, google):
    box1 = connect(db, capture_settings, google, REP)
    box2 = connect(db, capture_settings, google, REP2)
    raw = raw_mail(BUYER, [REP, REP2], subject="Both of you", message_id="shared-1@acme.test.example")
    google.add_message(REP, raw)
    google.add_message(REP2, raw)

    run_sync(db, capture_settings, box1)
    run_sync(db, capture_settings, box2)

    with db.uow() as uow:
        activities = uow.s.scalars(select(Activity)).all()
        assert len(activities) == 1
        assert activities[0].dedupe_key == "mid:shared-1@acme.test.example"
        mailboxes = set(uow.s.scalars(select(ActivitySource.mailbox_id).where(ActivitySource.activity_id == activities[0].id)))
    assert mailboxes == {box1, box2}


def test_direction_links_contacts_and_the_buying_team_deal(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Inbound", message_id="in-1@acme.test.example"))
    google.add_message(REP, raw_mail(REP_ALIAS, [BUYER], subject="From my alias", message_id="out-1@seller.example"), ["INBOX"])

    run_sync(db, capture_settings, box)

    inbound = stored_activity(db, "in-1@acme.test.example")
    outbound = stored_activity(db, "out-1@seller.example")
    with db.uow() as uow:
        contacts = set(uow.s.scalars(select(ActivityContact.contact_id).where(ActivityContact.activity_id == inbound.id)))
    assert inbound.direction == "inbound" and outbound.direction == "outbound"
    # Acme has two open deals (rep.a1's and rep.b1's); the mail is in rep.a1's mailbox and only a1_acme is theirs.
    assert inbound.opportunity_id == world.opportunities["a1_acme"]
    assert inbound.needs_link_choice is False and inbound.link_candidates == []
    assert contacts == {world.contacts[BUYER]}
    assert inbound.new_text.startswith("Hi,") and inbound.account_id == world.accounts["acme"]


def test_the_reps_thread_choice_wins_for_later_mail_on_the_thread(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    root = "root-7@acme.test.example"
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Pricing", message_id=root))
    run_sync(db, capture_settings, box)
    with db.uow() as uow:
        uow.s.add(ThreadLink(org_id=world.org_id, thread_key="root-7@acme.test.example", opportunity_id=world.opportunities["b1_acme"],
                             chosen_by_id=world.users["rep.a1"]))
        uow.commit()

    google.add_message(REP, raw_mail(TECH, [REP], subject="Re: Pricing", message_id="reply-7@acme.test.example",
                                     in_reply_to=root))
    run_sync(db, capture_settings, box)

    reply = stored_activity(db, "reply-7@acme.test.example")
    assert reply.opportunity_id == world.opportunities["b1_acme"]
    assert reply.link_method == "thread" and reply.needs_link_choice is False
    assert reply.thread_key == "root-7@acme.test.example"


def test_deleted_message_is_removed_when_no_other_mailbox_sees_it(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    gmail_id = google.add_message(REP, raw_mail(BUYER, [REP], subject="Oops"))
    run_sync(db, capture_settings, box)
    assert activity_count(db) == 1

    google.delete_message(REP, gmail_id)
    run_sync(db, capture_settings, box)

    assert activity_count(db) == 0 and source_count(db) == 0


def test_revoked_consent_marks_the_mailbox_for_reconnection_and_stops_retrying(db, world, capture_settings, google, client):
    box = connect(db, capture_settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP]))
    for token in google._user(REP).refresh_tokens:
        google.revoke_refresh_token(token)

    first = run_sync(db, capture_settings, box)
    second = run_sync(db, capture_settings, box)

    assert first.state == "needs_reconnect" and "reconnect" in first.detail
    assert second.ran is False and second.state == "needs_reconnect"
    assert activity_count(db) == 0
    shown = client.get("/api/v1/mailboxes", headers=world.auth("rep.a1")).get_json()["items"]
    assert [(m["address"], m["state"], m["needs_action"]) for m in shown] == [(REP, "needs_reconnect", True)]
    assert "reconnect" in shown[0]["meaning"]
    assert client.get("/api/v1/mailboxes", headers=world.auth("rep.a2")).get_json()["items"] == []


def test_throttled_mailbox_is_paused_until_the_providers_time_while_others_sync(db, world, capture_settings, google):
    box1 = connect(db, capture_settings, google, REP)
    box2 = connect(db, capture_settings, google, REP2)
    google.add_message(REP, raw_mail(BUYER, [REP]))
    google.add_message(REP2, raw_mail(CIO, [REP2]))
    google.faults.once("/users/me/profile", status=429, retry_after=600, times=1)
    now = datetime.now(timezone.utc)

    throttled = run_sync(db, capture_settings, box1, clock=lambda: now)
    other = run_sync(db, capture_settings, box2, clock=lambda: now)
    skipped = run_sync(db, capture_settings, box1, clock=lambda: now + timedelta(seconds=60))
    resumed = run_sync(db, capture_settings, box1, clock=lambda: now + timedelta(seconds=601))

    assert throttled.state == "throttled"
    assert _mailbox(db, box1).paused_until is None or resumed.state == "idle"
    assert other.state == "idle" and other.stored == 1
    assert skipped.ran is False
    assert resumed.state == "idle" and resumed.stored == 1


def test_a_failing_provider_backs_off_longer_each_time_and_recovers(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP]))
    google.faults = FaultPlan(1.0, kinds=("500",))
    now = datetime.now(timezone.utc)

    first = run_sync(db, capture_settings, box, clock=lambda: now)
    pause1 = _mailbox(db, box).paused_until - now
    second = run_sync(db, capture_settings, box, clock=lambda: now + pause1)
    pause2 = _mailbox(db, box).paused_until - (now + pause1)
    google.faults = FaultPlan()
    later = now + pause1 + pause2
    recovered = run_sync(db, capture_settings, box, clock=lambda: later)

    assert first.state == second.state == "provider_error"
    assert "retrying later" in first.detail and pause2 > pause1
    assert recovered.state == "idle" and recovered.stored == 1
    state = _mailbox(db, box)
    assert state.consecutive_failures == 0 and state.paused_until is None


def test_expired_calendar_sync_token_resyncs_meetings_without_duplicates(db, world, capture_settings, google):
    from dealpulse.standins.google_calendar_server import Attendee

    box = connect(db, capture_settings, google, REP)
    start = datetime.now(timezone.utc) - timedelta(days=1)
    google.add_event(REP, summary="Kick-off", start=start, end=start + timedelta(hours=1),
                     attendees=[Attendee(REP), Attendee(BUYER)], organizer=REP, ical_uid="kickoff@seller.example")
    run_sync(db, capture_settings, box)
    google.calendar(REP).expire_sync_tokens()
    google.add_event(REP, summary="Follow-up", start=start, end=start + timedelta(hours=1),
                     attendees=[Attendee(REP), Attendee(BUYER)], organizer=REP, ical_uid="followup@seller.example")

    result = run_sync(db, capture_settings, box)

    assert result.state == "idle" and result.stored == 1
    assert sorted(dedupe_keys(db)) == ["ical:followup@seller.example", "ical:kickoff@seller.example"]
