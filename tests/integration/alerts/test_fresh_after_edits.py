"""A rep's edit re-evaluates the deal's alerts in the same request (#14): stage, close date, exit answers, buying team.

Also the buying team as the pane and the dashboard list it: contacts, roles, last engaged; add by address.
"""

from __future__ import annotations

from datetime import date, timedelta

from dealpulse.services.alert_engine import run_alerts
from dealpulse.store import Contact, utcnow


def _opp(client, world, deal: str, who: str = "rep.a1") -> dict:
    return client.get(f"/api/v1/opportunities/{world.opportunities[deal]}", headers=world.auth(who)).get_json()


def _patch(client, world, deal: str, who: str = "rep.a1", **changes) -> dict:
    version = _opp(client, world, deal, who)["version"]
    response = client.patch(f"/api/v1/opportunities/{world.opportunities[deal]}", headers=world.auth(who),
                            json={"version": version, **changes})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _open_rules(client, world, deal: str, who: str = "rep.a1") -> set[str]:
    items = client.get("/api/v1/alerts", query_string={"opportunity_id": world.opportunities[deal]},
                       headers=world.auth(who)).get_json()["items"]
    return {a["rule"] for a in items}


def test_a_stage_change_raises_single_threaded_in_the_same_request(client, world, deals):
    deals.activity("a1_acme", days_ago=2, score=0.5)  # one buyer contact engaged
    assert "single_threaded" not in _open_rules(client, world, "a1_acme")

    _patch(client, world, "a1_acme", stage="proposal")

    assert "single_threaded" in _open_rules(client, world, "a1_acme")
    pane = client.post("/api/v1/context", json={"from": "buyer@acme.test.example", "message_id": "<x@acme>"},
                       headers=world.auth("rep.a1")).get_json()
    assert "single_threaded" in {a["rule"] for a in pane["alerts"]}


def test_a_close_date_in_the_past_alerts_at_once_and_moving_it_resolves_at_once(client, world, deals):
    deals.activity("a1_acme", days_ago=1, score=0.5)
    _patch(client, world, "a1_acme", close_date=(date.today() - timedelta(days=3)).isoformat())
    assert "close_date" in _open_rules(client, world, "a1_acme")
    _patch(client, world, "a1_acme", close_date=(date.today() + timedelta(days=30)).isoformat())
    assert "close_date" not in _open_rules(client, world, "a1_acme")


def test_answering_the_exit_questions_resolves_their_alert_at_once(client, world, db, settings, deals):
    deals.activity("b1_acme", days_ago=1, score=0.5, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    assert "exit_questions_unanswered" in _open_rules(client, world, "b1_acme", "rep.b1")

    opp = _opp(client, world, "b1_acme", "rep.b1")
    response = client.put(f"/api/v1/opportunities/{opp['id']}/exit-answers", headers=world.auth("rep.b1"),
                          json={"version": opp["version"], "answers": {"legal_review_started": True, "signatory_known": True}})
    assert response.status_code == 200
    assert "exit_questions_unanswered" not in _open_rules(client, world, "b1_acme", "rep.b1")


def test_the_buying_team_lists_roles_and_last_engaged_and_takes_a_participant_by_address(client, world, db, deals):
    deals.activity("a1_acme", days_ago=4, score=0.3)  # Ann Buyer wrote 4 days ago
    opp = _opp(client, world, "a1_acme")
    (ann,) = opp["buying_team"]
    assert ann["role"] == "economic_buyer" and ann["last_engaged_at"][:10] == (utcnow() - timedelta(days=4)).date().isoformat()

    response = client.post(f"/api/v1/opportunities/{opp['id']}/buying-team", headers=world.auth("rep.a1"),
                           json={"version": opp["version"], "email": "Nora New <nora@acme.test.example>", "name": "Nora New",
                                 "role": "champion"})
    assert response.status_code == 200, response.get_json()
    team = {m["email"]: m for m in response.get_json()["buying_team"]}
    assert team["nora@acme.test.example"]["role"] == "champion" and team["nora@acme.test.example"]["last_engaged_at"] is None
    with db.uow() as uow:
        nora = uow.s.query(Contact).filter_by(email="nora@acme.test.example").one()
        assert nora.account_id == world.accounts["acme"] and nora.name == "Nora New"

    version = response.get_json()["version"]
    cleared = client.put(f"/api/v1/opportunities/{opp['id']}/buying-team/{nora.id}", headers=world.auth("rep.a1"),
                         json={"version": version, "role": None})
    assert "nora@acme.test.example" not in {m["email"] for m in cleared.get_json()["buying_team"]}
    history = client.get(f"/api/v1/opportunities/{opp['id']}/history", headers=world.auth("rep.a1")).get_json()["items"]
    assert {"buying_team.nora@acme.test.example"} <= {h["field"] for h in history}


def test_bad_buying_team_additions_change_nothing(client, world, db):
    opp = _opp(client, world, "a1_acme")
    url = f"/api/v1/opportunities/{opp['id']}/buying-team"
    for body, status in (
        ({"email": "rep.a2@seller.example", "role": "champion"}, 422),  # a colleague
        ({"email": "not an address", "role": "champion"}, 422),
        ({"email": "x@acme.test.example", "role": "king"}, 422),
    ):
        response = client.post(url, headers=world.auth("rep.a1"), json={"version": opp["version"], **body})
        assert response.status_code == status, (body, response.get_json())
    assert client.post(url, headers=world.auth("rep.a2"),
                       json={"version": opp["version"], "email": "x@acme.test.example", "role": "user"}).status_code == 404
    assert _opp(client, world, "a1_acme")["version"] == opp["version"]
    with db.uow() as uow:
        assert uow.s.query(Contact).filter_by(email="x@acme.test.example").count() == 0
