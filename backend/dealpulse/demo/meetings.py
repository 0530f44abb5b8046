"""Demo meetings: the script's [[meetings]] as calendar events relative to `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dealpulse.demo.clock import local_moment, meeting_day
from dealpulse.demo.compose import OUTLOOK_CLIENTS
from dealpulse.demo.envelope import token
from dealpulse.demo.people import Directory
from dealpulse.demo.threads import MeetingSpec

OUTLOOK_UID_PREFIX = "040000008200E00074C5B7101A82E00800000000"  # how Exchange starts a meeting's iCalUID


@dataclass(frozen=True)
class DemoEvent:
    """One meeting in the owner's calendar."""

    owner: str
    ical_uid: str
    summary: str
    description: str
    start: datetime  # aware UTC
    end: datetime
    organizer_email: str
    attendees: list[tuple[str, str, str]]  # (email, name, Google responseStatus); the organizer first
    status: str  # "confirmed" | "cancelled"


def _response(meeting: MeetingSpec, address: str) -> str:
    for answers, status in ((meeting.declined, "declined"), (meeting.tentative, "tentative"), (meeting.pending, "needsAction")):
        if address in {a.lower() for a in answers}:
            return status
    return "accepted"


def render_meeting(where: str, seed: str, meeting: MeetingSpec, default_owner: str, people: Directory,
                   now: datetime) -> DemoEvent:
    """One meeting in its calendar; a meeting that contradicts itself raises ValueError naming `where`."""
    owner = (meeting.calendar or default_owner).lower()
    organizer = (meeting.organizer or owner).lower()
    organizer_person = people[organizer]
    invitees = [a.lower() for a in meeting.attendees if a.lower() != organizer]
    unknown = {a.lower() for a in meeting.declined + meeting.tentative + meeting.pending} - set(invitees)
    if unknown:
        raise ValueError(f"{where}: answers from people not invited: {sorted(unknown)}")
    if owner != organizer and owner not in invitees:
        raise ValueError(f"{where}: the calendar owner {owner} is neither organizer nor attendee")
    attendees = [(organizer, organizer_person.name, "accepted")]
    attendees += [(a, people[a].name, _response(meeting, a)) for a in invitees]
    start = local_moment(now, organizer_person, meeting.days_ago, meeting.hour, meeting.minute)
    start = meeting_day(start, now).astimezone(timezone.utc)
    digest = token(seed)
    if organizer_person.client in OUTLOOK_CLIENTS:
        ical_uid = OUTLOOK_UID_PREFIX + digest[:32].upper()
    else:
        ical_uid = f"{digest[:26]}@google.com"
    return DemoEvent(owner, ical_uid, meeting.summary, meeting.description.strip(), start,
                     start + timedelta(minutes=meeting.duration), organizer, attendees, meeting.status)
