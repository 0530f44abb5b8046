"""The dashboard's deal page as signals (#14): true last inbound, rules not evaluated and why, buying team, change deal,
"needs a deal"; and the demo organisation's stage history making "stalled" fire."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.demo.orgdata import load_org
from dealpulse.services.alert_engine import evaluate_all
from dealpulse.services.alert_feed import deal_health
from dealpulse.services.alert_snapshots import forget_percentiles
from dealpulse.services.org_setup import load_organisation
from dealpulse.store import Activity, Alert, Opportunity, User
from dealpulse.web.auth import principal_for_user
from tests.integration.alerts.test_dashboard_pages import sign_in
from tests.integration.sidebar.support import inbox

__all__ = ["inbox"]  # the captured-email builder fixture


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def test_the_deal_page_shows_dynamics_unevaluated_rules_and_the_buying_team(client, db, world, deals):
    deals.activity("a1_acme", days_ago=3, score=0.4)
    deals.activity("a1_acme", kind="meeting", days_ago=-9)  # planned in nine days
    sign_in(client, world, "rep.a1")
    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    expected = (datetime.now(timezone.utc) - timedelta(days=3))
    assert f'<dd id="last-inbound">{expected.day} {expected:%b %Y}</dd>' in page  # never the planned meeting
    assert "1 planned" in page and "planned — not contact from the buyer yet" in page
    assert "Rules not evaluated" in page and "stage(s)" not in page and "completed stay(s) in this stage, 5 needed" in page
    assert "Ann Buyer" in page and "economic buyer" in page and "Add to the buying team" in page


def test_change_deal_and_add_to_the_team_from_the_deal_page(client, db, world, deals):
    moved = deals.activity("a1_acme", days_ago=2, score=-0.9, label="negative")
    csrf = sign_in(client, world, "rep.a1")
    with db.uow() as uow:
        thread_key = uow.s.get(Activity, moved).thread_key
        version = uow.s.get(Opportunity, world.opportunities["a1_acme"]).version
    answer = client.post("/dashboard/threads/link", data={"csrf_token": csrf, "thread_key": thread_key,
                                                          "opportunity_id": str(world.opportunities["a1_globex"]),
                                                          "next": "/dashboard/"})
    assert answer.status_code == 303
    with db.uow() as uow:
        assert uow.s.get(Activity, moved).opportunity_id == world.opportunities["a1_globex"]
        rules = set(uow.s.scalars(select(Alert.rule).where(Alert.opportunity_id == world.opportunities["a1_globex"],
                                                           Alert.state == "open")))
    assert "negative_email" in rules  # re-evaluated with the move, not at the next sweep

    answer = client.post(f"/dashboard/deals/{world.opportunities['a1_acme']}/buying-team",
                         data={"csrf_token": csrf, "version": str(version), "email": "nina@acme.test.example",
                               "name": "Nina New", "role": "champion"})
    assert answer.status_code == 303
    page = client.get(f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    assert "Nina New" in page and "not yet" in page
    stale = client.post(f"/dashboard/deals/{world.opportunities['a1_acme']}/buying-team",
                        data={"csrf_token": csrf, "version": str(version), "email": "zed@acme.test.example", "role": "user"})
    assert stale.status_code == 409 and "zed@acme" not in client.get(
        f"/dashboard/deals/{world.opportunities['a1_acme']}").get_data(as_text=True)
    assert client.post("/dashboard/threads/link", data={"thread_key": thread_key, "opportunity_id": "none"}).status_code == 400


def test_needs_a_deal_lists_my_ambiguous_emails_and_my_manager_sees_them_without_choosing(client, db, world, inbox):
    waiting = inbox.email("rep.a1", opportunity=None, needs_link_choice=True, candidates=("a1_acme", "a1_globex"),
                          subject="Which deal is this?")
    csrf = sign_in(client, world, "rep.a1")
    page = client.get("/dashboard/needs-deal").get_data(as_text=True)
    assert "Which deal is this?" in page and "Choose" in page
    client.post("/dashboard/threads/link", data={"csrf_token": csrf, "thread_key": waiting.thread_key,
                                                 "opportunity_id": str(world.opportunities["a1_globex"])})
    assert "Nothing waits for a choice." in client.get("/dashboard/needs-deal").get_data(as_text=True)

    other = inbox.email("rep.a2", opportunity=None, needs_link_choice=True, candidates=("a2_initech",),
                        subject="Initech question", to=("rep.a2@seller.example",))
    assert other.activity_id
    manager = client.application.test_client()
    sign_in(manager, world, "manager.a")
    seen = manager.get("/dashboard/needs-deal").get_data(as_text=True)
    assert "Initech question" in seen and "they choose the deal" in seen


def test_the_demo_has_the_stage_history_stalled_needs(db, settings):
    now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    forget_percentiles()
    with db.uow() as uow:
        org_id = load_organisation(uow, load_org(), now=now)
    evaluate_all(db, settings, org_id, now)
    with db.uow() as uow:
        stalled = set(uow.s.scalars(select(Opportunity.name).join(Alert, Alert.opportunity_id == Opportunity.id)
                                    .where(Alert.rule == "stalled", Alert.state == "open")))
        assert stalled, "some demo deals sit in their stage longer than 75 % of the history"
        admin = uow.s.scalar(select(User).where(User.org_id == org_id, User.role == "admin"))
        negotiation = uow.s.scalar(select(Opportunity.id).where(Opportunity.name.like("Brightwater%")))
        health = deal_health(uow, principal_for_user(uow.s, admin), negotiation, now=now, alert_defaults=Thresholds())
    assert "stalled" in health["skipped"] and "needed" in health["skipped"]["stalled"]
