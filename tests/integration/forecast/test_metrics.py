"""Pipeline metrics on a hand-built history with known answers: win rates, deal size per currency, cycle, funnel,
quota attainment; reopened deals; who may see what."""

from __future__ import annotations

from datetime import date

import pytest

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.services.errors import InvalidField, PermissionDenied
from dealpulse.services.metrics import MetricsFilter, pipeline_metrics
from dealpulse.services.opportunities import update_opportunity
from dealpulse.store import Opportunity

from .history import WINDOW, admin_principal, load_history, principal_of

Q1 = MetricsFilter(start=date.fromisoformat(WINDOW[0]), end=date.fromisoformat(WINDOW[1]))
KEYS = {"won", "lost", "win_rate", "win_rate_by_amount", "avg_won_amount", "cycle_days_median", "cycle_days_mean",
        "by_owner", "stages"}


@pytest.fixture
def history(db, world):
    load_history(db, world)
    return world


def _metrics(db, principal, flt=Q1):
    with db.uow() as uow:
        return pipeline_metrics(uow, principal, flt)


def test_every_metric_of_the_quarter_matches_the_worked_answer(db, history):
    m = _metrics(db, admin_principal(db, history))
    assert set(m) == KEYS
    assert (m["won"], m["lost"]) == (4, 3)
    assert m["win_rate"] == pytest.approx(4 / 7)
    # currencies kept apart: USD won 1000+2000 of 6500 closed; EUR all won; GBP 4000 of 5000
    assert m["win_rate_by_amount"] == {"EUR": 1.0, "GBP": 0.8, "USD": pytest.approx(3000 / 6500)}
    assert m["avg_won_amount"] == {"EUR": "3000.00", "GBP": "4000.00", "USD": "1500.00"}
    assert (m["cycle_days_median"], m["cycle_days_mean"]) == (20.0, 20.0)  # 10, 20, 20, 30 days
    a1 = next(o for o in m["by_owner"] if o["owner_email"] == "rep.a1@seller.example")
    assert (a1["won"], a1["lost"], a1["win_rate"]) == (2, 1, pytest.approx(2 / 3))
    assert a1["avg_won_amount"] == {"EUR": "3000.00", "USD": "1000.00"}
    assert (a1["cycle_days_median"], a1["cycle_days_mean"]) == (20.0, 20.0)  # 10 and 30 days
    assert a1["quota_attainment"] == {"USD": 0.5}  # the month inside the quarter is not counted twice
    a2 = next(o for o in m["by_owner"] if o["owner_email"] == "rep.a2@seller.example")
    assert a2["quota_attainment"] == {"USD": 0.0}
    b1 = next(o for o in m["by_owner"] if o["owner_email"] == "rep.b1@seller.example")
    assert b1["quota_attainment"] is None and b1["cycle_days_median"] == 20.0  # W4 has no activity at all


def test_the_funnel_counts_how_far_each_lost_deal_got(db, history):
    stages = {s["key"]: s for s in _metrics(db, admin_principal(db, history))["stages"]}
    assert list(stages) == ["qualification", "demo", "proposal", "negotiation"]
    # 4 won reached every stage; L2 was lost at qualification, L1 at proposal, L3 at negotiation
    assert [(s["reached"], s["lost_at"]) for s in stages.values()] == [(7, 1), (6, 0), (6, 1), (5, 1)]
    assert stages["qualification"]["conversion"] == pytest.approx(6 / 7)
    assert stages["demo"]["conversion"] == 1.0
    assert stages["negotiation"]["conversion"] == pytest.approx(4 / 5)


def test_the_window_and_the_owner_filter_narrow_the_deals(db, history):
    admin = admin_principal(db, history)
    january = _metrics(db, admin, MetricsFilter(start=date(2025, 1, 1), end=date(2025, 1, 31)))
    assert (january["won"], january["lost"]) == (2, 0)  # W1 (Jan 11), W3 (Jan 30)
    mine = _metrics(db, admin, MetricsFilter(owner_email="REP.B1@seller.example", start=Q1.start, end=Q1.end))
    assert (mine["won"], mine["lost"], mine["avg_won_amount"]) == (1, 1, {"GBP": "4000.00"})
    empty = _metrics(db, admin, MetricsFilter(start=date(2024, 1, 1), end=date(2024, 12, 31)))
    assert (empty["won"], empty["win_rate"], empty["cycle_days_median"], empty["avg_won_amount"]) == (0, None, None, {})
    assert all(s["conversion"] is None for s in empty["stages"])


def test_no_window_counts_every_closed_deal(db, history):
    everything = _metrics(db, admin_principal(db, history), MetricsFilter())
    assert (everything["won"], everything["lost"]) == (5, 3)  # plus the world's own won renewal


def test_a_reopened_deal_counts_once_by_its_latest_close(db, history):
    admin = admin_principal(db, history)
    with db.uow() as uow:
        l2 = uow.s.query(Opportunity).filter_by(external_id="L2").one()
        opp_id, version = l2.id, l2.version
    with db.uow() as uow:
        reopened = update_opportunity(uow, admin, opp_id, version, {"stage": "demo"}, alert_defaults=Thresholds())
    assert reopened["closed_at"] is None
    assert (_metrics(db, admin)["won"], _metrics(db, admin)["lost"]) == (4, 2)  # open again: not counted
    with db.uow() as uow:
        won = update_opportunity(uow, admin, opp_id, reopened["version"], {"stage": "closed_won"}, alert_defaults=Thresholds())
    assert won["closed_at"] is not None
    now = _metrics(db, admin, MetricsFilter())
    assert (now["won"], now["lost"]) == (6, 2)  # won today: counted once, as won
    demo = next(s for s in now["stages"] if s["key"] == "demo")
    assert demo["lost_at"] == 0 and demo["reached"] == 8


def test_a_rep_sees_only_their_own_figures(db, history):
    rep = principal_of(db, history, "rep.a1")
    m = _metrics(db, rep)
    assert (m["won"], m["lost"]) == (2, 1)
    assert [o["owner_email"] for o in m["by_owner"]] == ["rep.a1@seller.example"]
    with pytest.raises(PermissionDenied):
        _metrics(db, rep, MetricsFilter(owner_email="rep.a2@seller.example"))
    with pytest.raises(PermissionDenied):
        _metrics(db, rep, MetricsFilter(team="Test Team A"))


def test_a_manager_sees_their_team_and_not_the_other(db, history):
    manager = principal_of(db, history, "manager.a")
    m = _metrics(db, manager)
    assert (m["won"], m["lost"]) == (3, 2)  # a1 and a2
    assert {o["owner_email"] for o in m["by_owner"]} == {"rep.a1@seller.example", "rep.a2@seller.example"}
    assert _metrics(db, manager, MetricsFilter(team="Test Team A", start=Q1.start, end=Q1.end))["won"] == 3
    with pytest.raises(PermissionDenied):
        _metrics(db, manager, MetricsFilter(team="Test Team B"))
    with pytest.raises(PermissionDenied):
        _metrics(db, manager, MetricsFilter(owner_email="rep.b1@seller.example"))


def test_another_organisation_sees_nothing_and_cannot_name_our_people(db, history):
    other = principal_of(db, history, "other.admin")
    assert _metrics(db, other)["won"] == 0
    with pytest.raises(InvalidField):
        _metrics(db, other, MetricsFilter(owner_email="rep.a1@seller.example"))
    with pytest.raises(InvalidField):
        _metrics(db, other, MetricsFilter(team="Test Team A"))
