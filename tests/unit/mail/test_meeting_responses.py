"""Meeting responses from both calendars: who declined (a meeting every buyer declined is not buyer contact)."""

from __future__ import annotations

from dealpulse.mail.google_calendar import to_fetched_event
from dealpulse.mail.graph import GraphConnector


def test_google_attendees_who_declined_are_noted():
    event = to_fetched_event({
        "id": "e1", "iCalUID": "u1", "summary": "Review",
        "start": {"dateTime": "2026-11-20T10:00:00Z"}, "end": {"dateTime": "2026-11-20T11:00:00Z"},
        "attendees": [{"email": "Ann@Acme.example", "responseStatus": "declined"},
                      {"email": "tim@acme.example", "responseStatus": "accepted"},
                      {"email": "room@resource.example", "resource": True, "responseStatus": "declined"}],
    })
    assert "ann@acme.example" in event.declined and "tim@acme.example" not in event.declined
    assert [a.email for a in event.attendees] == ["ann@acme.example", "tim@acme.example"]


def test_graph_attendees_who_declined_are_noted_and_odd_shapes_are_ignored():
    event = GraphConnector.to_event({
        "id": "e1", "iCalUId": "u1", "subject": "Review",
        "start": {"dateTime": "2026-11-20T10:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-20T11:00:00.0000000", "timeZone": "UTC"},
        "attendees": [
            {"emailAddress": {"address": "Ann@Acme.example"}, "status": {"response": "declined"}},
            {"emailAddress": {"address": "tim@acme.example"}, "status": {"response": "accepted"}},
            {"emailAddress": None, "status": "declined"},
        ],
    })
    assert event.declined == frozenset({"ann@acme.example"})
