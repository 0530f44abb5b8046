"""Google Calendar v3 stand-in: a primary calendar per user with events.list, sync tokens and 410 on expiry."""

from __future__ import annotations

import base64
import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from flask import Blueprint, Response, request

from dealpulse.standins.google_errors import error_response

RESPONSE_STATUSES = ("needsAction", "declined", "tentative", "accepted")


class CalendarRequestError(Exception):
    """A request the real API would refuse."""

    def __init__(self, code: int, message: str, reason: str, domain: str = "global"):
        super().__init__(message)
        self.code, self.message, self.reason, self.domain = code, message, reason, domain


def _rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_rfc3339(text: str, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CalendarRequestError(400, f"Bad Request: invalid {name} {text!r}", "badRequest") from exc
    if when.tzinfo is None:
        raise CalendarRequestError(400, f"Bad Request: {name} needs a time zone offset", "badRequest")
    return when


@dataclass(frozen=True)
class Attendee:
    """One invitee as the test data describes it."""

    email: str
    display_name: str = ""
    response_status: str = "needsAction"


@dataclass
class StoredEvent:
    """One event in a calendar."""

    id: str
    ical_uid: str
    summary: str
    start: datetime
    end: datetime
    organizer: str
    organizer_name: str
    attendees: list[Attendee]
    description: str = ""
    location: str = ""
    time_zone: str = "UTC"
    status: str = "confirmed"
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    updated: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    sequence: int = 0
    change: int = 0  # calendar change counter at the last modification


class GoogleCalendar:
    """One user's primary calendar: events, a change counter behind sync tokens, and token expiry; thread-safe."""

    def __init__(self, owner: str):
        self.owner = owner
        self._lock = threading.RLock()
        self._events: dict[str, StoredEvent] = {}
        self._change = 0
        self._oldest_valid_token = 0

    def add_event(
        self,
        summary: str,
        start: datetime,
        end: datetime,
        attendees: Iterable[Attendee | tuple[str, str, str] | str] = (),
        organizer: str | None = None,
        organizer_name: str = "",
        description: str = "",
        location: str = "",
        ical_uid: str | None = None,
        time_zone: str = "UTC",
    ) -> str:
        """Add a confirmed event; `attendees` are Attendee, (email, name, responseStatus) or plain addresses."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("event start and end must be timezone-aware")
        if end < start:
            raise ValueError("event end is before its start")
        people = [_attendee(a) for a in attendees]
        with self._lock:
            event_id = hashlib.sha1(f"{self.owner}/{len(self._events)}/{uuid.uuid4()}".encode()).hexdigest()[:26]
            self._change += 1
            self._events[event_id] = StoredEvent(
                id=event_id,
                ical_uid=ical_uid or f"{event_id}@google.com",
                summary=summary,
                start=start,
                end=end,
                organizer=organizer or self.owner,
                organizer_name=organizer_name,
                attendees=people,
                description=description,
                location=location,
                time_zone=time_zone,
                change=self._change,
            )
            return event_id

    def update_event(self, event_id: str, **changes: Any) -> None:
        """Change fields of an event (summary, start, end, attendees, description, location)."""
        with self._lock:
            event = self._events[event_id]
            for name, value in changes.items():
                if name == "attendees":
                    value = [_attendee(a) for a in value]
                if not hasattr(event, name) or name in ("id", "change", "status"):
                    raise ValueError(f"cannot update event field {name!r}")
                setattr(event, name, value)
            self._touch(event)

    def cancel_event(self, event_id: str) -> None:
        """Cancel (delete) an event: it stays visible to sync tokens as status=cancelled."""
        with self._lock:
            event = self._events[event_id]
            event.status = "cancelled"
            self._touch(event)

    def expire_sync_tokens(self) -> None:
        """Invalidate every sync token issued so far (their next use answers 410 fullSyncRequired)."""
        with self._lock:
            self._change += 1
            self._oldest_valid_token = self._change

    def _touch(self, event: StoredEvent) -> None:
        self._change += 1
        event.change = self._change
        event.sequence += 1
        event.updated = datetime.now(timezone.utc)

    def list_events(
        self,
        sync_token: str | None,
        page_token: str | None,
        max_results: int,
        show_deleted: bool,
        time_min: datetime | None,
        time_max: datetime | None,
    ) -> dict[str, Any]:
        """events.list: a full listing (with time bounds) or the changes since a sync token; paged."""
        with self._lock:
            if page_token:
                since, snapshot, offset, show_deleted, time_min, time_max = _decode_page(page_token)
            else:
                snapshot, offset = self._change, 0
                since = self._since(sync_token) if sync_token else None
            incremental = since is not None
            if incremental and since < self._oldest_valid_token:
                raise CalendarRequestError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
            events = [
                e for e in self._events.values()
                if e.change <= snapshot
                and (e.change > since if incremental else (show_deleted or e.status != "cancelled"))
                and (time_min is None or e.end > time_min)
                and (time_max is None or e.start < time_max)
            ]
        events.sort(key=lambda e: (e.change, e.id))
        page = events[offset: offset + max_results]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{snapshot}"',
            "summary": self.owner,
            "description": "",
            "updated": _rfc3339(max((e.updated for e in events), default=datetime.now(timezone.utc))),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": [self._resource(e) for e in page],
        }
        if offset + max_results < len(events):
            body["nextPageToken"] = _encode_page(since, snapshot, offset + max_results, show_deleted, time_min, time_max)
        else:
            body["nextSyncToken"] = _encode_sync(snapshot)
        return body

    def _since(self, sync_token: str) -> int:
        try:
            text = base64.urlsafe_b64decode(sync_token.encode()).decode()
        except (ValueError, UnicodeError):
            text = ""
        if not text.startswith("sync:") or not text[5:].isdigit():
            raise CalendarRequestError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
        return int(text[5:])

    def _resource(self, event: StoredEvent) -> dict[str, Any]:
        if event.status == "cancelled":
            return {"kind": "calendar#event", "etag": f'"{event.change}"', "id": event.id, "status": "cancelled"}
        organizer: dict[str, Any] = {"email": event.organizer}
        if event.organizer_name:
            organizer["displayName"] = event.organizer_name
        if event.organizer == self.owner:
            organizer["self"] = True
        attendees = []
        for person in event.attendees:
            item: dict[str, Any] = {"email": person.email, "responseStatus": person.response_status}
            if person.display_name:
                item["displayName"] = person.display_name
            if person.email == event.organizer:
                item["organizer"] = True
            if person.email == self.owner:
                item["self"] = True
            attendees.append(item)
        resource: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": f'"{event.change}"',
            "id": event.id,
            "status": event.status,
            "htmlLink": f"https://www.google.com/calendar/event?eid={event.id}",
            "created": _rfc3339(event.created),
            "updated": _rfc3339(event.updated),
            "summary": event.summary,
            "creator": {"email": event.organizer},
            "organizer": organizer,
            "start": {"dateTime": _rfc3339(event.start), "timeZone": event.time_zone},
            "end": {"dateTime": _rfc3339(event.end), "timeZone": event.time_zone},
            "iCalUID": event.ical_uid,
            "sequence": event.sequence,
            "eventType": "default",
        }
        if event.description:
            resource["description"] = event.description
        if event.location:
            resource["location"] = event.location
        if attendees:
            resource["attendees"] = attendees
        return resource


def _attendee(value: Attendee | tuple[str, str, str] | str) -> Attendee:
    if isinstance(value, Attendee):
        return value
    if isinstance(value, str):
        return Attendee(value)
    email_address, name, status = value
    if status not in RESPONSE_STATUSES:
        raise ValueError(f"responseStatus must be one of {RESPONSE_STATUSES}, got {status!r}")
    return Attendee(email_address, name, status)


def _encode_sync(change: int) -> str:
    return base64.urlsafe_b64encode(f"sync:{change}".encode()).decode()


def _encode_page(since: int | None, snapshot: int, offset: int, show_deleted: bool, time_min: datetime | None, time_max: datetime | None) -> str:
    fields = [str(since if since is not None else -1), str(snapshot), str(offset), "1" if show_deleted else "0",
              time_min.isoformat() if time_min else "", time_max.isoformat() if time_max else ""]
    return base64.urlsafe_b64encode("|".join(fields).encode()).decode()


def _decode_page(token: str) -> tuple[int | None, int, int, bool, datetime | None, datetime | None]:
    try:
        since, snapshot, offset, deleted, tmin, tmax = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return (
            None if since == "-1" else int(since), int(snapshot), int(offset), deleted == "1",
            datetime.fromisoformat(tmin) if tmin else None, datetime.fromisoformat(tmax) if tmax else None,
        )
    except (ValueError, UnicodeError) as exc:
        raise CalendarRequestError(400, "Invalid page token", "badRequest") from exc


def calendar_blueprint(calendar_for_request: Callable[[], GoogleCalendar | None]) -> Blueprint:
    """Routes of Calendar v3 events.list under /calendar/v3/calendars/<calendarId>/events."""
    bp = Blueprint("calendar", __name__)

    @bp.errorhandler(CalendarRequestError)
    def refused(exc: CalendarRequestError) -> Response:
        extra = {"locationType": "parameter", "location": "syncToken"} if exc.code == 410 else {}
        return error_response(exc.code, exc.message, exc.reason, exc.domain, **extra)

    @bp.get("/calendar/v3/calendars/<calendar_id>/events")
    def list_events(calendar_id: str) -> Any:
        calendar = calendar_for_request()
        if calendar is None:
            raise CalendarRequestError(401, "Request had invalid authentication credentials.", "authError")
        if calendar_id not in ("primary", calendar.owner):
            raise CalendarRequestError(404, "Not Found", "notFound")
        sync_token = request.args.get("syncToken")
        time_min = request.args.get("timeMin")
        time_max = request.args.get("timeMax")
        if sync_token and (time_min or time_max or request.args.get("q")):
            raise CalendarRequestError(400, "Sync token cannot be used with timeMin, timeMax or q.", "invalid")
        if request.args.get("orderBy") == "startTime" and request.args.get("singleEvents") != "true":
            raise CalendarRequestError(400, "The requested ordering is not available for the particular query.", "invalid")
        text = request.args.get("maxResults", "250")
        if not text.isdigit() or int(text) < 1:
            raise CalendarRequestError(400, f"Invalid value for maxResults: {text}", "invalid")
        return calendar.list_events(
            sync_token=sync_token,
            page_token=request.args.get("pageToken"),
            max_results=min(int(text), 2500),
            show_deleted=request.args.get("showDeleted") == "true",
            time_min=_parse_rfc3339(time_min, "timeMin") if time_min else None,
            time_max=_parse_rfc3339(time_max, "timeMax") if time_max else None,
        )

    return bp
