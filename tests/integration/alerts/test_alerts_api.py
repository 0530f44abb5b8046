"""The alerts JSON API: feed, acknowledge, resolve, health, review agenda, OpenAPI; every caller sees only their deals."""

from __future__ import annotations

from dealpulse.services.alert_engine import run_alerts


def _raise_gone_dark(db, settings, world, deals) -> None:
    deals.activity("a1_acme", days_ago=30)
    deals.activity("a1_globex", days_ago=1, score=-0.9, contacts=("cio@globex.test.example",),
                   highlights=[{"text": "The budget is frozen until next year.", "label": "negative", "score": -0.9}])
    run_alerts(db, settings, world.org_id)


def test_manager_reads_the_feed_and_acknowledges_then_resolves(client, db, settings, world, deals):
    _raise_gone_dark(db, settings, world, deals)

    feed = client.get("/api/v1/alerts", headers=world.auth("manager.a")).get_json()["items"]
    assert feed[0]["severity"] == "critical"
    negative = next(a for a in feed if a["rule"] == "negative_email")
    assert "The budget is frozen until next year." in negative["reason"]
    assert all(a["owner"] in ("Test Rep A1", "Test Rep A2") for a in feed)

    acked = client.post(f"/api/v1/alerts/{negative['id']}/acknowledge", headers=world.auth("manager.a"))
    assert acked.status_code == 200 and acked.get_json()["state"] == "acknowledged" and acked.get_json()["rearm_at"]
    again = client.post(f"/api/v1/alerts/{negative['id']}/acknowledge", headers=world.auth("manager.a"))
    assert again.status_code == 409
    done = client.post(f"/api/v1/alerts/{negative['id']}/resolve", headers=world.auth("rep.a1"))
    assert done.get_json()["state"] == "resolved" and done.get_json()["resolution"] == "manual"
    resolved = client.get("/api/v1/alerts?state=resolved", headers=world.auth("manager.a")).get_json()["items"]
    assert [a["id"] for a in resolved] == [negative["id"]]
    history = client.get(f"/api/v1/opportunities/{world.opportunities['a1_globex']}/history", headers=world.auth("manager.a"))
    assert history.status_code == 200


def test_other_teams_and_organisations_cannot_see_or_touch_alerts(client, db, settings, world, deals):
    _raise_gone_dark(db, settings, world, deals)
    mine = client.get("/api/v1/alerts", headers=world.auth("rep.a1")).get_json()["items"]
    target = mine[0]["id"]

    assert client.post(f"/api/v1/alerts/{target}/acknowledge", headers=world.auth("rep.b1")).status_code == 404
    assert client.post(f"/api/v1/alerts/{target}/resolve", headers=world.auth("other.admin")).status_code == 404
    assert client.get("/api/v1/alerts", headers=world.auth("other.manager.a")).get_json()["items"] == []
    b_feed = client.get("/api/v1/alerts", headers=world.auth("manager.b")).get_json()["items"]
    assert target not in [a["id"] for a in b_feed]
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts?state=bogus", headers=world.auth("rep.a1")).status_code == 422


def test_health_and_review_agenda(client, db, settings, world, deals):
    _raise_gone_dark(db, settings, world, deals)
    opp = world.opportunities["a1_globex"]

    health = client.get(f"/api/v1/opportunities/{opp}/health", headers=world.auth("manager.a")).get_json()
    assert health["score"] < 70 and health["reasons"][0]["rule"] == "negative_email"
    assert client.get(f"/api/v1/opportunities/{opp}/health", headers=world.auth("manager.b")).status_code == 404

    agenda = client.get(f"/api/v1/review-agenda?rep_id={world.users['rep.a1']}", headers=world.auth("manager.a")).get_json()
    assert agenda["rep"]["name"] == "Test Rep A1"
    assert [d["name"] for d in agenda["deals"]][0] == "Test Globex expansion"  # the riskier of two deals in two currencies
    assert all(d["reasons"] for d in agenda["deals"]) and len(agenda["deals"]) <= 3
    denied = client.get(f"/api/v1/review-agenda?rep_id={world.users['rep.a1']}", headers=world.auth("manager.b"))
    assert denied.status_code == 404
    assert client.get("/api/v1/review-agenda?rep_id=abc", headers=world.auth("manager.a")).status_code == 422


def test_review_agenda_never_compares_amounts_in_different_currencies(client, world, rep_a1_in_three_currencies):
    path = f"/api/v1/review-agenda?rep_id={world.users['rep.a1']}"
    agenda = client.get(path, headers=world.auth("manager.a")).get_json()

    # 9,000,000 JPY is not "more" than 120,000 EUR: each is A1's only deal in its currency, so risk decides.
    assert [d["name"] for d in agenda["deals"]] == rep_a1_in_three_currencies
    assert [d["health"] for d in agenda["deals"]] == sorted(d["health"] for d in agenda["deals"])
    assert [d["relative_size"] for d in agenda["deals"]] == [1.0, 1.0, 1.0]
    assert [(c["currency"], c["open_deals"], c["open_amount"], c["agenda_amount"]) for c in agenda["by_currency"]] == [
        ("EUR", 1, "120000.00", "120000.00"), ("JPY", 1, "9000000.00", "9000000.00"), ("USD", 1, "50000.00", "50000.00")]
    # The rep preparing the one-to-one sees the same numbers as the manager.
    assert client.get(path, headers=world.auth("rep.a1")).get_json() == agenda


def test_within_one_currency_the_larger_deal_at_the_same_risk_comes_first(client, db, settings, world, deals,
                                                                         rep_a1_in_three_currencies):
    created = client.post("/api/v1/opportunities", headers=world.auth("rep.a1"), json={
        "name": "Test Acme Japan pilot", "account_id": world.accounts["acme"], "stage": "qualification",
        "amount": "1000000", "currency": "JPY"})
    world.opportunities["a1_japan_pilot"] = created.get_json()["id"]
    deals.activity("a1_japan_pilot", days_ago=25)  # as much at risk as the 9,000,000 JPY deal
    run_alerts(db, settings, world.org_id)

    agenda = client.get(f"/api/v1/review-agenda?rep_id={world.users['rep.a1']}", headers=world.auth("manager.a")).get_json()

    sizes = {d["name"]: d["relative_size"] for d in agenda["deals"]}
    assert sizes.get("Test Acme Japan") == 1.8  # 9,000,000 of A1's 5,000,000 JPY mean
    assert "Test Acme Japan pilot" not in sizes  # 0.2 of it: the smallest problem of the four
    jpy = next(c for c in agenda["by_currency"] if c["currency"] == "JPY")
    assert (jpy["open_deals"], jpy["open_amount"], jpy["agenda_amount"]) == (2, "10000000.00", "9000000.00")


def test_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/alerts", "/api/v1/alerts/{alert_id}/acknowledge", "/api/v1/alerts/{alert_id}/resolve",
                 "/api/v1/opportunities/{opportunity_id}/health", "/api/v1/review-agenda"):
        assert path in paths
