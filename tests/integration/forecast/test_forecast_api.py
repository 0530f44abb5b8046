"""`GET /api/v1/metrics` and `GET /api/v1/forecast`: same figures as the service, access rules, bad input is a 4xx."""

from __future__ import annotations

import pytest

from .history import load_history

EXPECTED_USD_A1 = {
    "closed_won": "1000.00", "commit": "10000.00", "best_case": "5000.00", "pipeline": "0.00",
    "stage_weighted": "8000.00",  # 60 % of 10000 + 40 % of 5000
    # No win model yet (too few closed deals): predicted falls back to the stage probabilities, and the note says why.
    "predicted": "8000.00", "quota": "2000.00", "coverage": 15.0,  # 15000 open / (2000 quota - 1000 won)
}


@pytest.fixture
def history(db, world):
    load_history(db, world)
    return world


def _forecast(client, world, who, **params):
    return client.get("/api/v1/forecast", query_string={"period": "2025-Q1", **params}, headers=world.auth(who))


def test_the_forecast_rolls_up_reps_teams_and_the_total(client, history):
    response = _forecast(client, history, "admin")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["period"] == "2025-Q1" and (body["start"], body["end"]) == ("2025-01-01", "2025-04-01")
    assert "not enough history" in body["predicted_note"]
    reps = {r["owner_email"]: r["figures"] for r in body["reps"]}
    assert reps["rep.a1@seller.example"]["USD"] == EXPECTED_USD_A1
    assert reps["rep.a1@seller.example"]["EUR"]["closed_won"] == "3000.00"
    a2 = reps["rep.a2@seller.example"]["USD"]
    # O3 pipeline (20 % of 2000 = 400) and O4 omitted (80 % of 9999 = 7999.20 still stage-weighted); Feb quota 1000
    assert (a2["pipeline"], a2["commit"], a2["stage_weighted"], a2["quota"]) == ("2000.00", "0.00", "8399.20", "1000.00")
    assert a2["coverage"] is None  # already won more than the quota
    team_a = next(t for t in body["teams"] if t["name"] == "Test Team A")["figures"]["USD"]
    assert (team_a["closed_won"], team_a["commit"], team_a["quota"]) == ("3000.00", "10000.00", "3000.00")
    assert body["total"]["GBP"]["closed_won"] == "4000.00"
    assert body["total"]["GBP"]["pipeline"] == "0.00"  # O5 closes in April
    assert set(body["total"]) == {"EUR", "GBP", "USD"}  # never added across currencies


def test_a_rep_gets_their_own_forecast_and_cannot_ask_for_another(client, history):
    body = _forecast(client, history, "rep.a2").json
    assert [r["owner_email"] for r in body["reps"]] == ["rep.a2@seller.example"]
    assert body["total"]["USD"]["closed_won"] == "2000.00"
    assert _forecast(client, history, "rep.a2", owner="rep.a1@seller.example").status_code == 403
    assert _forecast(client, history, "manager.a", team="Test Team B").status_code == 403
    narrowed = _forecast(client, history, "manager.a", owner="rep.a1@seller.example").json
    assert [r["owner_email"] for r in narrowed["reps"]] == ["rep.a1@seller.example"]


def test_bad_forecast_input_is_a_422(client, history):
    for params in ({"period": "2025-Q5"}, {"period": "2025-13"}, {"period": "next quarter"}, {"period": "2025-Q1", "x": "1"}):
        response = client.get("/api/v1/forecast", query_string=params, headers=history.auth("admin"))
        assert response.status_code == 422, params
    assert client.get("/api/v1/forecast", headers=history.auth("admin")).status_code == 422
    assert _forecast(client, history, "admin", team="No such team").status_code == 422
    assert client.get("/api/v1/forecast?period=2025-Q1").status_code == 401


def test_the_metrics_api_gives_the_cli_keys_and_respects_access(client, history):
    window = {"from": "2025-01-01", "to": "2025-03-31"}
    admin = client.get("/api/v1/metrics", query_string=window, headers=history.auth("admin")).json
    assert (admin["won"], admin["lost"], admin["avg_won_amount"]) == (4, 3, {"EUR": "3000.00", "GBP": "4000.00", "USD": "1500.00"})
    manager = client.get("/api/v1/metrics", query_string=window, headers=history.auth("manager.b")).json
    assert (manager["won"], manager["lost"]) == (1, 1)
    assert [o["owner_email"] for o in manager["by_owner"]] == ["rep.b1@seller.example"]
    other = client.get("/api/v1/metrics", headers=history.auth("other.admin")).json
    assert (other["won"], other["lost"]) == (1, 0)  # its own renewal only
    assert [o["owner_email"] for o in other["by_owner"]] == ["rep.b1@other-seller.example"]
    forbidden = client.get("/api/v1/metrics", query_string={"owner": "rep.b1@seller.example"}, headers=history.auth("rep.a1"))
    assert forbidden.status_code == 403


def test_bad_metrics_input_is_a_422(client, history):
    for params in ({"from": "2025-02-30"}, {"from": "2025-03-01", "to": "2025-01-01"}, {"owner": "nobody@x.example"},
                   {"bogus": "1"}):
        response = client.get("/api/v1/metrics", query_string=params, headers=history.auth("admin"))
        assert response.status_code == 422, (params, response.json)


def test_the_forecast_category_is_set_by_patch_audited_and_version_guarded(client, history):
    deal = history.opportunities["a1_acme"]
    current = client.get(f"/api/v1/opportunities/{deal}", headers=history.auth("rep.a1")).json
    assert current["forecast_category"] == "pipeline"
    changed = client.patch(f"/api/v1/opportunities/{deal}", json={"version": current["version"], "forecast_category": "commit"},
                           headers=history.auth("rep.a1"))
    assert changed.status_code == 200 and changed.json["forecast_category"] == "commit"
    stale = client.patch(f"/api/v1/opportunities/{deal}", json={"version": current["version"], "forecast_category": "omitted"},
                         headers=history.auth("rep.a1"))
    assert stale.status_code == 409 and stale.json["current"]["forecast_category"] == "commit"
    bad = client.patch(f"/api/v1/opportunities/{deal}", json={"version": changed.json["version"], "forecast_category": "maybe"},
                       headers=history.auth("rep.a1"))
    assert bad.status_code == 422
    other_rep = client.patch(f"/api/v1/opportunities/{deal}", json={"version": changed.json["version"], "forecast_category": "omitted"},
                             headers=history.auth("rep.a2"))
    assert other_rep.status_code == 404
    audit = client.get(f"/api/v1/opportunities/{deal}/history", headers=history.auth("rep.a1")).json
    entries = audit["items"] if isinstance(audit, dict) else audit
    assert any(e["field"] == "forecast_category" and e["new"] == "commit" and e["old"] == "pipeline" for e in entries)


class _HalfChance:
    """A win model that gives every open deal 50 %, except O1 (commit, 10,000 USD) which it gives 90 %."""

    def __init__(self, o1_id):
        self.o1_id = o1_id

    def win_probabilities(self, uow, org_id, opportunity_ids, period):
        return {i: 0.9 if i == self.o1_id else 0.5 for i in opportunity_ids}

    def note(self):
        return "model test-1"


def test_a_win_model_fills_predicted_through_the_hook(db, history):
    from dealpulse.services.forecast import forecast_rollup
    from dealpulse.store import Opportunity

    from .history import admin_principal

    with db.uow() as uow:
        o1 = uow.s.query(Opportunity).filter_by(external_id="O1").one().id
        rollup = forecast_rollup(uow, admin_principal(db, history), "2025-Q1", predictor=_HalfChance(o1))
    assert rollup["predicted_note"] == "model test-1"
    reps = {r["owner_email"]: r["figures"] for r in rollup["reps"]}
    assert reps["rep.a1@seller.example"]["USD"]["predicted"] == "11500.00"  # 0.9 x 10000 + 0.5 x 5000
    assert reps["rep.a2@seller.example"]["USD"]["predicted"] == "5999.50"  # 0.5 x (2000 + 9999): omitted deals too
    assert rollup["total"]["USD"]["predicted"] == "17499.50"
