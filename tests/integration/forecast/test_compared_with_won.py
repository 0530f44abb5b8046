"""Compared with the deals we won: statistics on hand-built closed deals, on the deal API, as an alert reason;
and who may read the forecast backtest."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.services.alert_engine import evaluate_opportunities
from dealpulse.services.alert_snapshots import forget_percentiles
from dealpulse.store import Alert, utcnow

from .helpers import add_deal, first_user


@pytest.fixture
def won_history(db, world):
    """Ten deals closed after Proposal: of the six won, five knew the economic buyer there; of the four lost, one."""
    org = world.org_id
    buyer = world.contacts["buyer@acme.test.example"]
    start = utcnow() - timedelta(days=200)
    with db.uow() as uow:
        rep = first_user(uow, org)
        for i, (won, knew) in enumerate([(True, True)] * 5 + [(True, False)] + [(False, True)] + [(False, False)] * 3):
            t0 = start + timedelta(days=i)
            roles = [(buyer, "economic_buyer", t0 + timedelta(days=5))] if knew else []
            add_deal(uow, org, world.accounts["acme"], rep, [("qualification", t0), ("proposal", t0 + timedelta(days=10))],
                     amount=10_000, close_date=(t0 + timedelta(days=40)).date(), roles=roles,
                     closed=("closed_won" if won else "closed_lost", t0 + timedelta(days=30)))
        uow.commit()
    forget_percentiles()
    yield
    forget_percentiles()


def test_a_deal_at_proposal_without_an_economic_buyer_shows_both_win_rates(client, world, won_history):
    opp = world.opportunities["a1_globex"]  # at Proposal, nobody on its buying team
    answer = client.get(f"/api/v1/opportunities/{opp}/compared-with-won", headers=world.auth("rep.a1"))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["stage"] == "proposal" and body["closed_deals"] >= 10
    assert [g["item"] for g in body["gaps"]] == ["role:economic_buyer"]
    assert body["gaps"][0]["reason"] == ("Economic buyer unknown at Proposal: 25 % of such deals were won, "
                                         "vs 83 % when known (4 vs 6 closed deals)")


def test_another_reps_deal_is_not_found(client, world, won_history):
    opp = world.opportunities["a1_globex"]
    assert client.get(f"/api/v1/opportunities/{opp}/compared-with-won", headers=world.auth("rep.b1")).status_code == 404
    other = world.opportunities["other.a1_globex"]
    assert client.get(f"/api/v1/opportunities/{other}/compared-with-won", headers=world.auth("admin")).status_code == 404


def test_the_gap_is_an_alert_reason_that_resolves_once_the_economic_buyer_is_known(db, client, world, won_history):
    opp = world.opportunities["a1_globex"]
    with db.uow() as uow:
        evaluate_opportunities(uow, world.org_id, [opp], alert_defaults=Thresholds())
    with db.uow() as uow:
        alert = uow.s.scalar(select(Alert).where(Alert.opportunity_id == opp, Alert.rule == "unlike_won_deals"))
    assert alert is not None and alert.state == "open" and alert.severity == "warning"
    assert alert.reason.startswith("Economic buyer unknown at Proposal: 25 % of such deals were won, vs 83 % when known")
    version = client.get(f"/api/v1/opportunities/{opp}", headers=world.auth("rep.a1")).get_json()["version"]
    put = client.put(f"/api/v1/opportunities/{opp}/buying-team/{world.contacts['cio@globex.test.example']}",
                     json={"role": "economic_buyer"}, headers={**world.auth("rep.a1"), "If-Match": f'"{version}"'})
    assert put.status_code == 200, put.get_json()
    with db.uow() as uow:
        evaluate_opportunities(uow, world.org_id, [opp], alert_defaults=Thresholds())
    with db.uow() as uow:
        assert uow.s.scalar(select(Alert.state).where(Alert.id == alert.id)) == "resolved"


def test_managers_read_the_backtest_and_reps_are_refused(client, world, won_history):
    manager = client.get("/api/v1/forecast/backtest?quarters=2", headers=world.auth("manager.a"))
    assert manager.status_code == 200
    body = manager.get_json()
    assert len(body["periods"]) == 2 and set(body["summary"]) == {"stage_weighted", "rep_commit", "predicted"}
    assert client.get("/api/v1/forecast/backtest", headers=world.auth("rep.a1")).status_code == 403
    assert client.get("/api/v1/forecast/backtest?quarters=0", headers=world.auth("admin")).status_code == 422
