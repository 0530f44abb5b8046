"""The sidebar's context of a captured email costs a fixed, small number of queries, whatever the deal holds."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event

from dealpulse.store import ActivityNote, Alert

ACME_BUYER = "buyer@acme.test.example"
# Personal-token authentication (3) and the context (14; these test emails have no account_id, so the account is
# looked up through the deal). Before merging the context queries and throttling the token's last-use write: 24.
# +1 since the buying team shows when each member last engaged, +1 for the deals "change deal" offers,
# +1 for the deal's open action items (issue #18; the health line reuses the alerts already loaded).
QUERY_BUDGET = 20


@contextmanager
def _counted(db) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _context_queries(client, world, db, message_id: str) -> tuple[dict, int]:
    with _counted(db) as seen:
        response = client.post("/api/v1/context", json={"message_id": message_id, "from": ACME_BUYER},
                               headers=world.auth("rep.a1"))
    assert response.status_code == 200, response.get_json()
    return response.get_json(), len(seen)


def test_notes_alerts_and_history_do_not_add_queries(client, world, inbox, db, active_tone):
    stored = inbox.email(label="negative", days_ago=1)
    _context_queries(client, world, db, stored.message_id)  # the token's first use is recorded once
    bare, bare_count = _context_queries(client, world, db, stored.message_id)
    assert bare["email"]["notes"] == [] and bare["alerts"] == []
    assert bare_count <= QUERY_BUDGET

    for days_ago in (3, 5, 8):
        inbox.email(label="positive", days_ago=days_ago)
    with db.uow() as uow:
        for author in ("rep.a1", "manager.a", "admin"):
            uow.s.add(ActivityNote(activity_id=stored.activity_id, author_id=world.users[author], text=f"note by {author}"))
        uow.s.add(Alert(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], rule="falling_tone",
                        severity="warning", reason="Tone fell"))
        uow.commit()
    busy, busy_count = _context_queries(client, world, db, stored.message_id)
    assert [n["author"]["name"] for n in busy["email"]["notes"]] == ["Test Rep A1", "Test Manager A", "Test Admin"]
    assert len(busy["alerts"]) == 1 and len(busy["timeline"]["tone_trend"]) == 4
    assert busy_count == bare_count
