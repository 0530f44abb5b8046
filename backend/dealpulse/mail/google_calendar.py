"""Google Calendar connector: events of the primary calendar, full sync over a window, then syncToken increments."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Iterator

from google.oauth2.credentials import Credentials

from dealpulse.config import Settings
from dealpulse.mail.google_api import GoneError, GoogleApiCaller, build_service
from dealpulse.mail.retry import RetryPolicy
from dealpulse.mail.types import Address, ChangeBatch, CursorExpiredError, FetchedEvent, SyncError

PAGE_SIZE = 250


def calendar_endpoint(settings: Settings) -> str:
    """The Calendar v3 base: googleapiclient's api_endpoint replaces rootUrl *and* servicePath."""
    return settings.calendar_api_url.rstrip("/") + "/calendar/v3/"


def _when(value: dict[str, Any]) -> datetime:
    """An event time: `dateTime` (RFC 3339) or an all-day `date` (midnight UTC)."""
    if value.get("dateTime"):
        when = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    if value.get("date"):
        return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)
    raise ValueError("event time has neither dateTime nor date")


def _address(person: dict[str, Any] | None) -> Address | None:
    if not person or not person.get("email"):
        return None
    return Address(str(person["email"]).lower(), str(person.get("displayName", "")))


def to_fetched_event(event: dict[str, Any]) -> FetchedEvent:
    """Calendar v3 event JSON -> FetchedEvent (attendees who declined are kept; resources are not people)."""
    attendees = [
        address
        for person in event.get("attendees", [])
        if not person.get("resource") and (address := _address(person)) is not None
    ]
    return FetchedEvent(
        provider_id=event["id"],
        ical_uid=event.get("iCalUID", ""),
        subject=event.get("summary", ""),
        start=_when(event.get("start", {})),
        end=_when(event.get("end", {})),
        organizer=_address(event.get("organizer")),
        attendees=attendees,
        description=event.get("description", ""),
        cancelled=event.get("status") == "cancelled",
        location=event.get("location", ""),
        declined=frozenset(
            str(person["email"]).lower()
            for person in event.get("attendees", [])
            if person.get("email") and person.get("responseStatus") == "declined"
        ),
    )


class GoogleCalendarConnector:
    """Yields ChangeBatches of events from a user's primary calendar; implements the MailConnector protocol."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        *,
        window_days: int = 90,
        retry_policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        timeout: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.window_days = window_days
        self.now = now
        self.caller = GoogleApiCaller(credentials, retry_policy, sleep, rng)
        self.service = build_service("calendar", "v3", credentials, calendar_endpoint(settings), timeout)

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Batches since `cursor` (a sync token); None = full sync of the last `window_days` and the future."""
        return self._pages(cursor)

    def _pages(self, sync_token: str | None) -> Iterator[ChangeBatch]:
        events = self.service.events()
        query: dict[str, Any] = {"calendarId": "primary", "singleEvents": True, "maxResults": PAGE_SIZE}
        if sync_token is None:
            query["timeMin"] = (self.now() - timedelta(days=self.window_days)).isoformat()
        else:
            query["syncToken"] = sync_token
        first = sync_token is None
        page_token: str | None = None
        while True:
            try:
                page = self.caller.execute(events.list(pageToken=page_token, **query))
            except GoneError as exc:
                raise CursorExpiredError("Google Calendar sync token expired: full resync") from exc
            batch = ChangeBatch(full_resync=first)
            for item in page.get("items", []):
                if item.get("status") == "cancelled":
                    batch.deleted_ids.append(item["id"])
                else:
                    batch.events.append(to_fetched_event(item))
            page_token = page.get("nextPageToken")
            if page_token is None:
                if not page.get("nextSyncToken"):
                    raise SyncError("Google Calendar's last page carried no nextSyncToken")
                batch.cursor = page["nextSyncToken"]
            yield batch
            first = False
            if page_token is None:
                return
