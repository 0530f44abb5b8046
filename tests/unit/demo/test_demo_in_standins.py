"""The demo mailbox loads into the Gmail and Calendar stand-ins and reads back through the product's MIME parser."""

import email
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from dealpulse.demo.mailbox import demo_events, demo_mail
from dealpulse.mail.mime import decode_base64url, parse_gmail_full
from dealpulse.standins.gmail_server import GmailMailbox
from dealpulse.standins.google_calendar_server import GoogleCalendar

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def mailboxes():
    boxes: dict[str, GmailMailbox] = {}
    for mail in demo_mail(NOW):
        box = boxes.setdefault(mail.owner, GmailMailbox(mail.owner))
        box.add_message(mail.raw, mail.label_ids, mail.internal_date)
    return boxes


def _thread_root(raw: bytes) -> str:
    headers = email.message_from_bytes(raw)
    references = (headers["References"] or "").split()
    return references[0] if references else headers["Message-ID"]


def test_every_script_thread_is_one_gmail_thread_per_mailbox(mailboxes):
    for owner, box in mailboxes.items():
        threads_of_root = defaultdict(set)
        for message_id in box.message_ids():
            resource = box.get_message(message_id, "raw", [])
            threads_of_root[_thread_root(decode_base64url(resource["raw"]))].add(resource["threadId"])
        assert all(len(ids) == 1 for ids in threads_of_root.values()), owner
        assert len(threads_of_root) >= 10


def test_the_shared_thread_is_a_thread_in_both_reps_mailboxes(mailboxes):
    shared_subject = "One security review for both Northwind projects"
    for owner in ["sam.keller@northwind.example", "jordan.alvarez@northwind.example"]:
        box = mailboxes[owner]
        fetched = [parse_gmail_full(box.get_message(i, "full", [])) for i in box.message_ids()]
        shared = [f for f in fetched if f.subject.endswith(shared_subject)]
        assert len(shared) == 6 and len({f.thread_id for f in shared}) == 1


def test_the_product_parser_reads_what_the_demo_wrote(mailboxes):
    by_id = {email.message_from_bytes(m.raw)["Message-ID"].strip("<>"): m for m in demo_mail(NOW)}
    seen = 0
    for box in mailboxes.values():
        for message_id in box.message_ids():
            fetched = parse_gmail_full(box.get_message(message_id, "full", []))
            original = by_id[fetched.message_id]
            assert fetched.sent_at == original.internal_date
            assert fetched.sender is not None and fetched.sender.email in original.raw.decode("ascii").lower()
            assert fetched.body_text.strip()
            seen += 1
    assert seen == len(demo_mail(NOW))
    pdfs = [a for box in mailboxes.values() for i in box.message_ids()
            for a in parse_gmail_full(box.get_message(i, "full", [])).attachments if a.content_type == "application/pdf"]
    assert len(pdfs) == 1 and pdfs[0].size > 200


def test_meetings_load_into_each_calendar():
    calendars: dict[str, GoogleCalendar] = {}
    events = demo_events(NOW)
    for event in events:
        calendar = calendars.setdefault(event.owner, GoogleCalendar(event.owner))
        event_id = calendar.add_event(event.summary, event.start, event.end, attendees=event.attendees,
                                      organizer=event.organizer_email, description=event.description,
                                      ical_uid=event.ical_uid)
        if event.status == "cancelled":
            calendar.cancel_event(event_id)
    listed = [item for c in calendars.values() for item in c.list_events(None, None, 500, True, None, None)["items"]]
    assert len(listed) == len(events)
    assert {item["iCalUID"] for item in listed if item["status"] == "confirmed"} == {
        e.ical_uid for e in events if e.status == "confirmed"}
