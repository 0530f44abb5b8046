"""The manager's digest lists their teams' overdue action items first (#18), never another team's."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

from dealpulse.services.alert_engine import run_alerts
from dealpulse.services.alert_digest import send_action_item_reminders, send_digests
from dealpulse.store import ActionItem, utcnow
from tests.integration.alerts.test_delivery import smtp  # noqa: F401 - the SMTP sink fixture


def _item(db, world, deal: str, obstacle: str, days_late: int) -> None:
    with db.uow() as uow:
        uow.s.add(ActionItem(org_id=world.org_id, opportunity_id=world.opportunities[deal], obstacle=obstacle,
                             owner_kind="manager", owner_name="", due_date=(utcnow() - timedelta(days=days_late)).date(),
                             priority="high", status="open"))
        uow.commit()


def test_the_digest_lists_the_teams_overdue_items_before_the_alerts(db, settings, world, deals, smtp):  # noqa: F811
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    deals.activity("a1_acme", days_ago=30)
    deals.activity("b1_acme", days_ago=40, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    _item(db, world, "a1_globex", "Procurement <b>wants</b> a second quote", days_late=2)
    _item(db, world, "a2_initech", "Not due yet", days_late=-3)
    _item(db, world, "b1_acme", "Team B's obstacle", days_late=5)

    assert send_digests(db, settings) == 2
    bodies = dict(sink.digests())
    team_a = bodies["manager.a@seller.example"]
    assert "Overdue action items" in team_a and "Procurement ‹b›wants‹/b› a second quote" in team_a
    assert team_a.index("Overdue action items") < team_a.index("New early warnings")
    assert "Not due yet" not in team_a and "Team B's obstacle" not in team_a
    assert "Team B's obstacle" in bodies["manager.b@seller.example"]


def test_on_thursday_each_manager_is_reminded_of_the_items_due_this_week(db, settings, world, smtp):  # noqa: F811
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    thursday = datetime(2026, 12, 3, 7, 5, tzinfo=timezone.utc)
    for deal, obstacle, due in (("a1_acme", "Due Saturday", date(2026, 12, 5)), ("a1_globex", "Due next Monday", date(2026, 12, 7)),
                                ("a2_initech", "Late since Monday", date(2026, 11, 30))):
        with db.uow() as uow:
            uow.s.add(ActionItem(org_id=world.org_id, opportunity_id=world.opportunities[deal], obstacle=obstacle,
                                 owner_kind="rep", owner_name="", due_date=due, priority="medium", status="open"))
            uow.commit()
    assert send_action_item_reminders(db, settings, thursday - timedelta(days=1)) == 0  # Wednesday: nothing
    assert send_action_item_reminders(db, settings, thursday) == 1  # manager A only: team B has no items
    [(recipient, body)] = sink.digests()
    assert recipient == "manager.a@seller.example" and "due by 2026-12-06" in body
    assert body.index("Late since Monday") < body.index("Due Saturday") and "Due next Monday" not in body
