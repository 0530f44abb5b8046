"""When demo mail and meetings happen: script days and local hours turned into moments relative to `now`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from dealpulse.demo.people import Person

SCRIPT_DAY = date(2000, 1, 1)  # an arbitrary "today" to check the script's order of messages against


def require_aware(now: datetime) -> datetime:
    """`now` itself, or ValueError when it has no time zone."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now


def local_moment(now: datetime, person: Person, days_ago: int, hour: int, minute: int) -> datetime:
    """`days_ago` whole days before today on the person's clock, at their local hour:minute."""
    local_today = now.astimezone(person.tz()).date()
    return datetime.combine(local_today - timedelta(days=days_ago), time(hour, minute), tzinfo=person.tz())


def script_moment(person: Person, days_ago: int, hour: int, minute: int) -> datetime:
    """When the script says a message was written, on a fixed calendar: its order never depends on `now`."""
    return datetime.combine(SCRIPT_DAY - timedelta(days=days_ago), time(hour, minute), tzinfo=person.tz())


def off_weekend(moment: datetime) -> datetime:
    """A Saturday or Sunday moment moves to the Friday before, same local time (people rarely mail on Sundays)."""
    weekday = moment.weekday()
    return moment - timedelta(days=weekday - 4) if weekday >= 5 else moment


def meeting_day(start: datetime, now: datetime) -> datetime:
    """A weekend meeting moves to the Friday before (past) or the Monday after (future)."""
    weekday = start.weekday()
    if weekday < 5:
        return start
    return start + timedelta(days=7 - weekday) if start > now else start - timedelta(days=weekday - 4)
