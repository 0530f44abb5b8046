"""An interrupted full sync resumes from its checkpoint: nothing stored is fetched again, everything stored once."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from dealpulse.mail import gmail
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.microsoft import MicrosoftStandIn
from dealpulse.store import ActivitySource

from .conftest import connect, dedupe_keys, raw_mail, run_sync

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
FRIEND = "friend@home.example"
CUSTOMER_MAIL, PERSONAL_MAIL = 100, 20


def _stored_ids(db, box: int) -> set[str]:
    with db.uow() as uow:
        return set(uow.s.scalars(select(ActivitySource.provider_id).where(ActivitySource.mailbox_id == box)))


def test_an_interrupted_gmail_full_sync_resumes_without_fetching_anything_twice(db, world, capture_settings, google, monkeypatch):
    monkeypatch.setattr(gmail, "LIST_PAGE_SIZE", 40)  # several messages.list pages
    settings = dataclasses.replace(capture_settings, sync_batch_size=10)
    box = connect(db, settings, google, REP)
    expected = set()
    for i in range(CUSTOMER_MAIL + PERSONAL_MAIL):
        personal = i % 6 == 5
        message_id = f"ckpt-{i}@{'home.example' if personal else 'acme.test.example'}"
        google.add_message(REP, raw_mail(FRIEND if personal else BUYER, [REP], subject=f"Update {i}", message_id=message_id))
        if not personal:
            expected.add(f"mid:{message_id}")
    google.faults.once("/batch/gmail/v1", status=400, after=13)  # the worker dies in the middle of page two

    interrupted = run_sync(db, settings, box)
    stored_first = _stored_ids(db, box)
    first_requests = len(google.requests)
    resumed = run_sync(db, settings, box, clock=lambda: datetime.now(timezone.utc) + timedelta(hours=2))
    second = google.requests[first_requests:]

    assert interrupted.state == "provider_error" and 0 < len(stored_first) < CUSTOMER_MAIL
    assert resumed.state == "idle", resumed.detail
    fetched_again = {r.path.rsplit("/", 1)[1] for r in second if r.in_batch}
    assert fetched_again and not fetched_again & stored_first  # no stored message is fetched again, in any format
    assert not any(r.path.endswith("/profile") for r in second)  # resumed from the checkpoint, not started over
    metadata = Counter(r.path.rsplit("/", 1)[1] for r in google.requests if r.in_batch and r.args["format"] == ["metadata"])
    assert len(metadata) == CUSTOMER_MAIL + PERSONAL_MAIL
    assert sum(1 for n in metadata.values() if n > 1) <= settings.sync_batch_size  # only the batch being fetched at the kill
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) and set(keys) == expected  # the mailbox, exactly once


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[REP]) as ms:
        yield ms


def test_an_interrupted_graph_full_sync_resumes_from_the_next_page(db, world, settings, microsoft):
    ms_settings = dataclasses.replace(settings, **microsoft.settings_overrides())
    with db.uow() as uow:
        box = add_mailbox(uow, ms_settings, provider="microsoft", address=REP, refresh_token=microsoft.issue_refresh_token(REP))
    for i in range(120):
        microsoft.add_message(REP, from_=f"Ann Buyer <{BUYER}>", to=[REP], subject=f"Graph {i}", body_text=f"Question {i}?",
                              internet_message_id=f"graph-ckpt-{i}@acme.test.example")
    microsoft.faults = FaultPlan()
    microsoft.faults.once("/messages/delta", status=400, after=3)

    interrupted = run_sync(db, ms_settings, box)
    stored_first = _stored_ids(db, box)
    first_requests = len(microsoft.graph_requests)
    resumed = run_sync(db, ms_settings, box, clock=lambda: datetime.now(timezone.utc) + timedelta(hours=2))
    second = microsoft.graph_requests[first_requests:]

    assert interrupted.state == "provider_error" and 0 < len(stored_first) < 120
    assert resumed.state == "idle", resumed.detail
    inbox_deltas = [r for r in second if r.path.endswith("/inbox/messages/delta")]
    assert "$skiptoken" in inbox_deltas[0].args  # resumed from the page after the last committed one
    bodies_fetched = {r.path.rsplit("/", 1)[1] for r in second if "/messages/" in r.path and not r.path.endswith("/delta")}
    assert bodies_fetched and not bodies_fetched & stored_first
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == 120
