"""Alerts in the database: opened once, refreshed, acknowledged, re-armed, resolved by hand or automatically."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select, text, update

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.services.alert_actions import acknowledge_alert, resolve_alert
from dealpulse.services.alert_engine import evaluate_opportunities, run_alerts
from dealpulse.services.alert_feed import alert_feed, deal_health
from dealpulse.services.alert_hooks import on_activities_stored, on_scores_stored
from dealpulse.services.sidebar_deal import open_alerts
from dealpulse.services.errors import ConflictError
from dealpulse.store import Alert, Opportunity, Stage, StageTransition, utcnow
from dealpulse.web.auth import principal_for_user
from dealpulse.store import User


def principal(db, world, who: str):
    with db.uow() as uow:
        return principal_for_user(uow.s, uow.s.get(User, world.users[who]))


@pytest.fixture
def clock():
    with time_machine.travel(utcnow(), tick=True) as traveller:
        yield traveller


def test_rep_only_outbound_goes_dark_and_an_inbound_reply_resolves_it(db, settings, world, deals, clock):
    deals.activity("a1_acme", days_ago=25, score=0.4)
    for d in (20, 12, 4):
        deals.activity("a1_acme", direction="outbound", days_ago=d)

    run_alerts(db, settings, world.org_id)

    alert = deals.unresolved("a1_acme", "gone_dark")
    assert alert is not None and alert.state == "open"
    assert alert.evidence["outbound_since"] == 3 and alert.evidence["days_silent"] == 25
    assert "3 email(s) sent since" in alert.reason

    reply = deals.activity("a1_acme", days_ago=0.01, score=0.5)
    with db.uow() as uow:
        on_activities_stored(uow, [reply], alert_defaults=Thresholds())

    assert deals.unresolved("a1_acme", "gone_dark") is None
    resolved = deals.alerts("a1_acme", "gone_dark")[-1]
    assert resolved.state == "resolved" and resolved.resolution == "auto" and resolved.resolved_at is not None


def test_evaluating_again_never_duplicates_and_refreshes_the_reason(db, settings, world, deals, clock):
    deals.activity("a1_acme", days_ago=22)
    run_alerts(db, settings, world.org_id)
    first = deals.unresolved("a1_acme", "gone_dark")
    clock.shift(timedelta(days=3))
    run_alerts(db, settings, world.org_id)
    run_alerts(db, settings, world.org_id)

    assert len(deals.alerts("a1_acme", "gone_dark")) == 1
    again = deals.unresolved("a1_acme", "gone_dark")
    assert again.id == first.id and "25 days" in again.reason and again.last_evaluated_at > first.last_evaluated_at


def test_acknowledged_alerts_stay_quiet_until_rearmed_then_reopen(db, settings, world, deals, clock):
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    alert = deals.unresolved("a1_acme", "gone_dark")
    manager = principal(db, world, "manager.a")
    with db.uow() as uow:
        acknowledge_alert(uow, manager, alert.id, alert_defaults=Thresholds())
    with db.uow() as uow, pytest.raises(ConflictError):
        acknowledge_alert(uow, manager, alert.id, alert_defaults=Thresholds())

    clock.shift(timedelta(hours=24))
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "gone_dark").state == "acknowledged"

    clock.shift(timedelta(hours=49))
    run_alerts(db, settings, world.org_id)
    reopened = deals.unresolved("a1_acme", "gone_dark")
    assert reopened.id == alert.id and reopened.state == "open" and reopened.acknowledged_at is None


def test_a_manual_resolution_rearms_while_the_condition_holds(db, settings, world, deals, clock):
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    alert = deals.unresolved("a1_acme", "gone_dark")
    with db.uow() as uow:
        resolved = resolve_alert(uow, principal(db, world, "rep.a1"), alert.id, alert_defaults=Thresholds())
    assert resolved["state"] == "resolved" and resolved["resolution"] == "manual"

    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "gone_dark") is None
    clock.shift(timedelta(hours=73))
    run_alerts(db, settings, world.org_id)
    fresh = deals.unresolved("a1_acme", "gone_dark")
    assert fresh is not None and fresh.id != alert.id


def test_a_strongly_negative_inbound_email_raises_its_alert_from_the_scoring_hook(db, world, deals):
    email = deals.activity("a1_globex", days_ago=0.001, score=-0.85, contacts=("cio@globex.test.example",),
                           highlights=[{"text": "We have chosen another vendor.", "label": "negative", "score": -0.9}])
    with db.uow() as uow:
        summary = on_scores_stored(uow, [email], alert_defaults=Thresholds())

    assert summary.opened >= 1
    alert = deals.unresolved("a1_globex", "negative_email")
    assert alert.severity == "critical" and '"We have chosen another vendor."' in alert.reason
    assert alert.evidence["activity_id"] == email


def test_closing_a_deal_resolves_its_alerts_in_the_sweep(db, settings, world, deals):
    deals.activity("a1_acme", days_ago=40)
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "gone_dark") is not None
    with db.uow() as uow:
        lost = uow.s.scalar(select(Stage.id).where(Stage.org_id == world.org_id, Stage.key == "closed_lost"))
        uow.s.execute(update(Opportunity).where(Opportunity.id == world.opportunities["a1_acme"]).values(stage_id=lost))
        uow.commit()

    run_alerts(db, settings, world.org_id)

    assert deals.alerts("a1_acme", states=("open", "acknowledged")) == []


def test_stalled_uses_the_teams_history_and_exit_questions_warn_after_m_days(db, settings, world, deals):
    now = utcnow()
    with db.uow() as uow:
        stages = dict(uow.s.execute(select(Stage.key, Stage.id).where(Stage.org_id == world.org_id)).all())
        # Six finished deals of team A that each spent 4-9 days in Demo.
        for i, days in enumerate((4, 5, 6, 7, 8, 9)):
            opp = Opportunity(org_id=world.org_id, account_id=world.accounts["acme"], owner_id=world.users["rep.a2"],
                              stage_id=stages["closed_won"], name=f"History {i}", stage_entered_at=now - timedelta(days=50))
            uow.s.add(opp)
            uow.s.flush()
            start = now - timedelta(days=100)
            uow.s.add_all([StageTransition(opportunity_id=opp.id, to_stage_id=stages["demo"], at=start),
                           StageTransition(opportunity_id=opp.id, from_stage_id=stages["demo"], to_stage_id=stages["closed_won"],
                                           at=start + timedelta(days=days))])
        uow.s.execute(update(Opportunity).where(Opportunity.id == world.opportunities["a2_initech"])
                      .values(stage_entered_at=now - timedelta(days=20)))
        uow.commit()
    deals.activity("a2_initech", days_ago=1, owner="rep.a2", contacts=("vp@initech.test.example",))

    run_alerts(db, settings, world.org_id)

    stalled = deals.unresolved("a2_initech", "stalled")
    assert stalled is not None and stalled.evidence["basis"] == "team" and stalled.evidence["percentile_days"] == pytest.approx(7.75, abs=0.06)
    questions = deals.unresolved("a2_initech", "exit_questions_unanswered")
    assert questions is not None and "Has our champion seen the demo?" in questions.reason


def test_the_feed_and_sidebar_show_only_visible_deals(db, settings, world, deals):
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    team_a = {world.opportunities[k] for k in ("a1_acme", "a1_globex", "a2_initech")}
    with db.uow() as uow:
        manager_a = alert_feed(uow, principal(db, world, "manager.a"))
        rep_a2 = alert_feed(uow, principal(db, world, "rep.a2"))
        admin = alert_feed(uow, principal(db, world, "admin"))
        other = alert_feed(uow, principal(db, world, "other.admin"))
        sidebar = open_alerts(uow.s, world.opportunities["a1_acme"])
    assert manager_a and {a["opportunity_id"] for a in manager_a} <= team_a
    assert {a["opportunity_id"] for a in rep_a2} == {world.opportunities["a2_initech"]}
    assert world.opportunities["b1_acme"] in {a["opportunity_id"] for a in admin}
    assert other == []
    assert any(a["rule"] == "gone_dark" for a in sidebar)


def test_deal_health_lists_reasons_and_skipped_rules(db, world, deals):
    deals.activity("a1_globex", days_ago=30, contacts=("cio@globex.test.example",))
    with db.uow() as uow:
        result = deal_health(uow, principal(db, world, "rep.a1"), world.opportunities["a1_globex"], alert_defaults=Thresholds())
    rules = [r["rule"] for r in result["reasons"]]
    assert rules[0] == "gone_dark" and "single_threaded" in rules  # Proposal stage, nobody engaged in 30 days
    assert 0 <= result["score"] < 100 and result["reasons"][0]["reason"]
    assert "stalled" in result["skipped"] and "needed" in result["skipped"]["stalled"]


def test_concurrent_evaluations_on_postgres_keep_one_unresolved_alert(db, world, deals, caplog):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: the insert race needs PostgreSQL's unique-index wait")
    deals.activity("a1_acme", days_ago=30)
    opp = world.opportunities["a1_acme"]
    caplog.set_level("INFO", logger="dealpulse.services.alert_engine")
    first = db.uow().__enter__()
    try:
        evaluate_opportunities(first, world.org_id, [opp], alert_defaults=Thresholds(), commit=False)  # inserted, not committed: holds the index entry
        outcome = {}

        def second() -> None:
            with db.uow() as uow:
                outcome["summary"] = evaluate_opportunities(uow, world.org_id, [opp], alert_defaults=Thresholds())

        worker = threading.Thread(target=second)
        worker.start()
        deadline = time.monotonic() + 10
        with db.engine.connect() as probe:
            while time.monotonic() < deadline:
                waiting = probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).scalar()
                if waiting:
                    break
                probe.commit()
        first.commit()
    finally:
        first.__exit__(None, None, None)
    worker.join(10)
    assert not worker.is_alive()
    assert "concurrent alert evaluation" in caplog.text  # the second insert hit the index and fell back
    assert outcome["summary"].opened == 0  # the second evaluation found the first one's alerts and kept them
    with db.uow() as uow:
        per_rule = uow.s.execute(select(Alert.rule, func.count()).where(Alert.opportunity_id == opp, Alert.state != "resolved")
                                 .group_by(Alert.rule)).all()
    assert per_rule and all(n == 1 for _, n in per_rule)
