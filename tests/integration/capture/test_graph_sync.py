"""Microsoft 365 mailboxes through GraphConnector: faults, expired delta links, shared mail with a Gmail user."""

from __future__ import annotations

import dataclasses

import pytest

from dealpulse.services.mailboxes import add_mailbox
from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.microsoft import MicrosoftStandIn

from .conftest import connect, dedupe_keys, raw_mail, run_sync, source_count, sync_until_idle

REP = "rep.a1@seller.example"
REP2 = "rep.a2@seller.example"
BUYER = "Ann Buyer <buyer@acme.test.example>"


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[REP]) as ms:
        yield ms


@pytest.fixture
def ms_settings(settings, microsoft):
    return dataclasses.replace(settings, **microsoft.settings_overrides())


def _connect(db, ms_settings, microsoft) -> int:
    with db.uow() as uow:
        return add_mailbox(uow, ms_settings, provider="microsoft", address=REP, refresh_token=microsoft.issue_refresh_token(REP))


def test_graph_sync_under_faults_and_after_expired_delta_links_stores_each_message_once(db, world, ms_settings, microsoft):
    box = _connect(db, ms_settings, microsoft)
    for i in range(40):
        microsoft.add_message(REP, from_=BUYER, to=[REP], subject=f"Graph {i}", body_text=f"Question {i}?",
                              internet_message_id=f"graph-{i}@acme.test.example")
        microsoft.add_message(REP, folder="sentitems", to=["buyer@acme.test.example"], subject=f"Re: Graph {i}",
                              body_text=f"Answer {i}.", internet_message_id=f"answer-{i}@seller.example")
    microsoft.faults = FaultPlan(0.2, kinds=("429", "500", "503"), seed=3, retry_after=0)

    sync_until_idle(db, ms_settings, box)
    microsoft.faults = None
    microsoft.expire_delta_tokens("gone")
    microsoft.add_message(REP, from_=BUYER, to=[REP], subject="After expiry", internet_message_id="late@acme.test.example")
    resynced = run_sync(db, ms_settings, box)

    assert resynced.state == "idle" and resynced.stored == 1, resynced.detail
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == 81
    assert source_count(db, box) == 81


def test_a_message_in_a_gmail_and_a_microsoft_mailbox_is_stored_once(db, world, settings, ms_settings, microsoft, google):
    graph_box = _connect(db, ms_settings, microsoft)
    gmail_box = connect(db, settings, google, REP2)
    microsoft.add_message(REP, from_=BUYER, to=[REP, REP2], subject="To both", internet_message_id="both@acme.test.example")
    google.add_message(REP2, raw_mail("buyer@acme.test.example", [REP, REP2], subject="To both", message_id="both@acme.test.example"))

    run_sync(db, ms_settings, graph_box)
    run_sync(db, settings, gmail_box)

    assert dedupe_keys(db) == ["mid:both@acme.test.example"]
    assert source_count(db, graph_box) == 1 and source_count(db, gmail_box) == 1
