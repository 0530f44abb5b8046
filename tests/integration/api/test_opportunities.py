"""Opportunities through the API: read, create, edit with versions, validation, audit history."""

from __future__ import annotations

import pytest


def test_rep_lists_only_own_deals(client, world):
    response = client.get("/api/v1/opportunities", headers=world.auth("rep.a1"))
    assert response.status_code == 200
    names = sorted(o["name"] for o in response.json["items"])
    assert names == ["Test Acme platform", "Test Globex expansion"]


def test_manager_team_scope_shows_team_deals_only(client, world):
    response = client.get("/api/v1/opportunities?scope=team", headers=world.auth("manager.a"))
    names = sorted(o["name"] for o in response.json["items"])
    assert names == ["Test Acme platform", "Test Globex expansion", "Test Initech pilot"]


def test_filters_by_stage_and_open(client, world):
    response = client.get("/api/v1/opportunities?scope=all&is_open=false", headers=world.auth("admin"))
    assert [o["name"] for o in response.json["items"]] == ["Test Globex renewal"]
    response = client.get("/api/v1/opportunities?scope=all&stage=demo", headers=world.auth("admin"))
    assert [o["name"] for o in response.json["items"]] == ["Test Initech pilot"]


def test_get_returns_checklist_buying_team_and_etag(client, world):
    response = client.get(f"/api/v1/opportunities/{world.opportunities['a1_acme']}", headers=world.auth("rep.a1"))
    assert response.status_code == 200
    assert response.headers["ETag"] == '"1"'
    questions = {q["key"]: q["answer"] for q in response.json["exit_questions"]}
    assert questions == {"clear_use_case": True, "meets_technical_requirements": None, "within_budget": None}
    assert response.json["buying_team"][0]["role"] == "economic_buyer"


def test_update_with_if_match_saves_and_audits(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    response = client.patch(url, json={"stage": "demo", "amount": "65000.5"}, headers={**world.auth("rep.a1"), "If-Match": '"1"'})
    assert response.status_code == 200, response.json
    assert response.json["stage"]["key"] == "demo"
    assert response.json["amount"] == "65000.50"
    assert response.json["probability"] == 40
    assert response.json["version"] == 2
    history = client.get(url + "/history", headers=world.auth("rep.a1")).json["items"]
    changed = {h["field"]: [h["old"], h["new"]] for h in history if h["version"] == 2}
    assert changed == {"stage": ["qualification", "demo"], "amount": ["50000.00", "65000.50"], "probability": [20, 40]}
    assert {h["actor"]["email"] for h in history if h["version"] == 2} == {"rep.a1@seller.example"}


def test_stale_if_match_gets_412_with_current_state_and_changes_nothing(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    first = client.patch(url, json={"next_step": "Call CFO"}, headers={**world.auth("rep.a1"), "If-Match": '"1"'})
    assert first.status_code == 200
    stale = client.patch(url, json={"next_step": "Email CTO"}, headers={**world.auth("manager.a"), "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json["current"]["next_step"] == "Call CFO"
    assert stale.json["current"]["version"] == 2
    assert [c["new"] for c in stale.json["changes_since"]] == ["Call CFO"]
    assert client.get(url, headers=world.auth("rep.a1")).json["next_step"] == "Call CFO"


def test_stale_body_version_gets_409(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    client.patch(url, json={"version": 1, "next_step": "A"}, headers=world.auth("rep.a1"))
    response = client.patch(url, json={"version": 1, "next_step": "B"}, headers=world.auth("rep.a1"))
    assert response.status_code == 409
    assert response.json["current"]["next_step"] == "A"


def test_update_without_version_is_refused(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    response = client.patch(url, json={"next_step": "A"}, headers=world.auth("rep.a1"))
    assert response.status_code == 428


@pytest.mark.parametrize(
    "body, bad_fields",
    [
        ({"version": 1, "amount": -5}, {"amount"}),
        ({"version": 1, "stage": "nonsense"}, {"stage"}),
        ({"version": 1, "close_date": "2026-13-45"}, {"close_date"}),
        ({"version": 1, "colour": "red"}, {"colour"}),
        ({"version": 1, "probability": "high", "currency": "dollars"}, {"probability", "currency"}),
        ({"version": 1, "name": None}, {"name"}),
    ],
)
def test_bad_input_is_422_naming_fields_and_changes_nothing(client, world, body, bad_fields):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    response = client.patch(url, json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 422, response.json
    assert {e["field"] for e in response.json["errors"]} == bad_fields
    after = client.get(url, headers=world.auth("rep.a1")).json
    assert after["version"] == 1
    assert client.get(url + "/history", headers=world.auth("rep.a1")).json["items"] == []


def test_non_json_body_is_422(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    response = client.patch(url, data="stage=demo", headers=world.auth("rep.a1"))
    assert response.status_code == 422


def test_close_date_pushes_are_counted(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    current = client.get(url, headers=world.auth("rep.a1")).json
    import datetime as dt

    later = (dt.date.fromisoformat(current["close_date"]) + dt.timedelta(days=30)).isoformat()
    even_later = (dt.date.fromisoformat(current["close_date"]) + dt.timedelta(days=60)).isoformat()
    r = client.patch(url, json={"version": 1, "close_date": later}, headers=world.auth("rep.a1"))
    r = client.patch(url, json={"version": 2, "close_date": even_later}, headers=world.auth("rep.a1"))
    assert r.json["close_date_pushes"] == 2


def test_create_opportunity_defaults_owner_and_probability(client, world):
    response = client.post(
        "/api/v1/opportunities",
        json={"name": "New deal", "account_id": world.accounts["acme"], "stage": "qualification", "amount": 1000},
        headers=world.auth("rep.a2"),
    )
    assert response.status_code == 201, response.json
    assert response.json["owner"]["email"] == "rep.a2@seller.example"
    assert response.json["probability"] == 20


def test_create_with_other_orgs_account_is_422(client, world):
    response = client.post(
        "/api/v1/opportunities",
        json={"name": "Sneaky", "account_id": world.accounts["other.acme"], "stage": "qualification"},
        headers=world.auth("rep.a2"),
    )
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "account_id"


def test_exit_answers_and_buying_team(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    r = client.put(url + "/exit-answers", json={"version": 1, "answers": {"within_budget": False}}, headers=world.auth("rep.a1"))
    assert r.status_code == 200
    assert {q["key"]: q["answer"] for q in r.json["exit_questions"]}["within_budget"] is False
    r = client.put(url + "/exit-answers", json={"version": 2, "answers": {"champion_saw_demo": True}}, headers=world.auth("rep.a1"))
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "answers.champion_saw_demo"
    contact = world.contacts["tech@acme.test.example"]
    r = client.put(f"{url}/buying-team/{contact}", json={"version": 2, "role": "technical_evaluator"}, headers=world.auth("rep.a1"))
    assert r.status_code == 200
    assert {m["email"]: m["role"] for m in r.json["buying_team"]}["tech@acme.test.example"] == "technical_evaluator"
    r = client.put(f"{url}/buying-team/{contact}", json={"version": 3, "role": "wizard"}, headers=world.auth("rep.a1"))
    assert r.status_code == 422


def test_stage_admin(client, world):
    body = {"name": "Security review", "position": 35, "probability": 50,
            "exit_questions": [{"key": "dpa_signed", "text": "Is the DPA signed?"}, {"key": "pentest_shared", "text": "Pentest shared?"}]}
    assert client.put("/api/v1/stages/security_review", json=body, headers=world.auth("rep.a1")).status_code == 403
    r = client.put("/api/v1/stages/security_review", json=body, headers=world.auth("admin"))
    assert r.status_code == 201
    one_question = {**body, "exit_questions": body["exit_questions"][:1]}
    assert client.put("/api/v1/stages/security_review", json=one_question, headers=world.auth("admin")).status_code == 422
    assert client.delete("/api/v1/stages/demo", headers=world.auth("admin")).status_code == 409
    assert client.delete("/api/v1/stages/security_review", headers=world.auth("admin")).status_code == 204
    keys = [s["key"] for s in client.get("/api/v1/stages", headers=world.auth("rep.a1")).json["items"]]
    assert "security_review" not in keys and keys[0] == "qualification"


def test_openapi_document_lists_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert "patch" in doc["paths"]["/api/v1/opportunities/{opportunity_id}"]
    assert "412" in doc["paths"]["/api/v1/opportunities/{opportunity_id}"]["patch"]["responses"]
