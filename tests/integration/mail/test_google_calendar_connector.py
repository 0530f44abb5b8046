"""GoogleCalendarConnector against the local Calendar stand-in: full window, sync tokens, cancellations, 410."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Iterable

import pytest

from dealpulse.config import Settings
from dealpulse.mail.google_auth import google_credentials
from dealpulse.mail.google_calendar import GoogleCalendarConnector
from dealpulse.mail.types import Address, AuthRevokedError, ChangeBatch, CursorExpiredError
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.google_calendar_server import Attendee

OWNER = "rep@acme.example"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def google() -> Iterable[GoogleStandIn]:
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def refresh_token(google: GoogleStandIn) -> str:
    return google.add_user(OWNER)


def connector(google: GoogleStandIn, refresh_token: str, sleeps: list | None = None) -> GoogleCalendarConnector:
    settings = Settings.from_env({}, env="test", **google.settings_overrides())
    return GoogleCalendarConnector(
        settings, google_credentials(settings, refresh_token), sleep=(sleeps if sleeps is not None else []).append
    )


def meeting(google: GoogleStandIn, days_from_now: float, summary: str = "Discovery call", **extra) -> str:
    start = NOW + timedelta(days=days_from_now)
    return google.add_event(
        OWNER,
        summary=summary,
        start=start,
        end=start + timedelta(minutes=45),
        attendees=[Attendee("Buyer@Customer.example", "Bea Buyer", "accepted"), Attendee(OWNER, "", "accepted")],
        description="Agenda: pricing",
        **extra,
    )


def events(batches: list[ChangeBatch]):
    return [event for batch in batches for event in batch.events]


def test_full_sync_covers_the_last_90_days_and_the_future(google, refresh_token):
    recent = meeting(google, -10)
    upcoming = meeting(google, 5, summary="Negotiation")
    meeting(google, -120, summary="Too old")

    batches = list(connector(google, refresh_token).changes(None))

    assert sorted(e.provider_id for e in events(batches)) == sorted([recent, upcoming])
    assert batches[0].full_resync and batches[-1].cursor
    negotiation = next(e for e in events(batches) if e.provider_id == upcoming)
    assert negotiation.subject == "Negotiation" and negotiation.description == "Agenda: pricing"
    assert negotiation.start == NOW + timedelta(days=5) and negotiation.end - negotiation.start == timedelta(minutes=45)
    assert negotiation.organizer == Address(OWNER, "")
    assert Address("buyer@customer.example", "Bea Buyer") in negotiation.attendees
    assert negotiation.ical_uid.endswith("@google.com")


def test_full_sync_pages_and_puts_the_sync_token_on_the_last_page(google, refresh_token):
    ids = [meeting(google, -(i % 80), summary=f"Call {i}") for i in range(300)]
    batches = list(connector(google, refresh_token).changes(None))
    assert len(batches) == 2
    assert sorted(e.provider_id for e in events(batches)) == sorted(ids)
    assert batches[0].cursor is None and batches[1].cursor


def test_incremental_sync_returns_new_changed_and_cancelled_events(google, refresh_token):
    kept = meeting(google, -3)
    dropped = meeting(google, 2, summary="Demo")
    calendar = connector(google, refresh_token)
    cursor = list(calendar.changes(None))[-1].cursor

    added = meeting(google, 7, summary="Security review")
    google.calendar(OWNER).update_event(kept, summary="Discovery call (notes)")
    google.calendar(OWNER).cancel_event(dropped)
    batches = list(calendar.changes(cursor))

    assert {e.provider_id: e.subject for e in events(batches)} == {added: "Security review", kept: "Discovery call (notes)"}
    assert [d for b in batches for d in b.deleted_ids] == [dropped]
    assert not batches[0].full_resync and batches[-1].cursor != cursor

    assert events(list(calendar.changes(batches[-1].cursor))) == []


def test_expired_sync_token_raises_cursor_expired_then_full_sync_recovers(google, refresh_token):
    first = meeting(google, -1)
    calendar = connector(google, refresh_token)
    cursor = list(calendar.changes(None))[-1].cursor
    google.calendar(OWNER).expire_sync_tokens()

    with pytest.raises(CursorExpiredError):
        list(calendar.changes(cursor))
    assert [e.provider_id for e in events(list(calendar.changes(None)))] == [first]


def test_unavailable_calendar_is_retried_with_retry_after(google, refresh_token):
    meeting(google, 1)
    google.faults.once("/calendar/v3/calendars/primary/events", status=503, retry_after=4)
    sleeps: list[float] = []
    assert len(events(list(connector(google, refresh_token, sleeps).changes(None)))) == 1
    assert sleeps == [4.0]


def test_revoked_consent_raises_auth_revoked(google, refresh_token):
    google.revoke_refresh_token(refresh_token)
    with pytest.raises(AuthRevokedError):
        list(connector(google, refresh_token).changes(None))
