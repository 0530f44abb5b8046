"""Metadata first: content is downloaded only for mail the privacy rules will store."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from dealpulse.services.mailboxes import add_mailbox
from dealpulse.standins.microsoft import MicrosoftStandIn
from dealpulse.store import Activity

from .conftest import connect, raw_mail, run_sync

REP = "rep.a1@seller.example"
COLLEAGUE = "rep.a2@seller.example"
BUYER = "buyer@acme.test.example"
FRIEND = "friend@home.example"


def _bodies(db) -> dict[str, str]:
    with db.uow() as uow:
        return {mid: text for mid, text in uow.s.execute(select(Activity.message_id, Activity.new_text))}


def test_gmail_downloads_only_the_content_of_customer_mail(db, world, capture_settings, google):
    box = connect(db, capture_settings, google, REP)
    customer, other = [], []
    for i in range(4):
        customer.append(google.add_message(REP, raw_mail(BUYER, [REP], body=f"Customer question {i}?", message_id=f"cust-{i}@acme.test.example")))
        other.append(google.add_message(REP, raw_mail(COLLEAGUE, [REP], body=f"Internal note {i}", message_id=f"int-{i}@seller.example")))
        other.append(google.add_message(REP, raw_mail(FRIEND, [REP], body=f"Personal {i}", message_id=f"pers-{i}@home.example")))
    other.append(google.add_message(REP, raw_mail(BUYER, [REP], message_id="promo@acme.test.example"), ["INBOX", "CATEGORY_PROMOTIONS"]))

    result = run_sync(db, capture_settings, box)

    assert result.state == "idle" and result.stored == 4
    assert result.outcome.excluded == {"internal_only": 4, "no_customer": 4, "category": 1}
    gets = [r for r in google.requests if r.in_batch]
    assert {r.path.rsplit("/", 1)[1] for r in gets if r.args["format"] == ["raw"]} == set(customer)
    assert {r.path.rsplit("/", 1)[1] for r in gets if r.args["format"] == ["metadata"]} == set(customer + other)
    assert all(r.args["format"] in (["raw"], ["metadata"]) for r in gets)
    assert _bodies(db) == {f"cust-{i}@acme.test.example": f"Customer question {i}?" for i in range(4)}


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[REP]) as ms:
        yield ms


def test_graph_downloads_only_the_bodies_of_customer_mail(db, world, settings, microsoft):
    ms_settings = dataclasses.replace(settings, **microsoft.settings_overrides())
    with db.uow() as uow:
        box = add_mailbox(uow, ms_settings, provider="microsoft", address=REP, refresh_token=microsoft.issue_refresh_token(REP))
    customer = [microsoft.add_message(REP, from_=BUYER, to=[REP], body_text=f"Customer question {i}?",
                                      internet_message_id=f"gcust-{i}@acme.test.example") for i in range(3)]
    for i in range(3):
        microsoft.add_message(REP, from_=COLLEAGUE, to=[REP], body_text=f"Internal {i}", internet_message_id=f"gint-{i}@seller.example")
        microsoft.add_message(REP, from_=FRIEND, to=[REP], body_text=f"Personal {i}", internet_message_id=f"gpers-{i}@home.example")

    result = run_sync(db, ms_settings, box)

    assert result.state == "idle" and result.stored == 3, result.detail
    requests = microsoft.graph_requests
    deltas = [r for r in requests if r.path.endswith("/messages/delta") and "$select" in r.args]
    assert deltas and all("body" not in r.args["$select"][0].split(",") for r in deltas)
    fetched = [r for r in requests if "/messages/" in r.path and not r.path.endswith("/delta")]
    assert sorted(r.path.rsplit("/", 1)[1] for r in fetched) == sorted(customer)
    assert all(r.args.get("$select") == ["body,internetMessageHeaders"] for r in fetched)
    assert _bodies(db) == {f"gcust-{i}@acme.test.example": f"Customer question {i}?" for i in range(3)}


def test_graph_out_of_office_found_by_its_headers_is_stored_as_automated(db, world, settings, microsoft):
    """Graph gives headers only on a single message: the content request selects them (RFC 3834 Auto-Submitted)."""
    ms_settings = dataclasses.replace(settings, **microsoft.settings_overrides())
    with db.uow() as uow:
        box = add_mailbox(uow, ms_settings, provider="microsoft", address=REP, refresh_token=microsoft.issue_refresh_token(REP))
    microsoft.add_message(REP, from_=BUYER, to=[REP], subject="Re: pricing", body_text="I am travelling until Monday.",
                          internet_message_id="goof@acme.test.example", headers={"Auto-Submitted": "auto-replied"})
    microsoft.add_message(REP, from_=BUYER, to=[REP], subject="Re: pricing", body_text="I am travelling until Monday.",
                          internet_message_id="gperson@acme.test.example")

    result = run_sync(db, ms_settings, box)

    assert result.state == "idle" and result.stored == 2, result.detail
    with db.uow() as uow:
        automated = dict(uow.s.execute(select(Activity.message_id, Activity.contact_exclusion)).all())
    assert automated == {"goof@acme.test.example": "auto_reply", "gperson@acme.test.example": ""}
