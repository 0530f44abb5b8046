"""Every endpoint × every kind of caller gives the expected status; no organisation sees another's data."""

from __future__ import annotations

import re

import pytest

ACTORS = ["owner", "other_rep", "team_manager", "other_manager", "admin", "other_org", "no_token", "bad_token"]

# Who may read/write rep.a1's deal "a1_acme": the owner, manager.a (manages team A) and the admin.
ALLOWED = {"owner", "team_manager", "admin"}


def headers_for(world, actor: str) -> dict[str, str]:
    """Authorization headers for a kind of caller."""
    return {
        "owner": world.auth("rep.a1"),
        "other_rep": world.auth("rep.b1"),
        "team_manager": world.auth("manager.a"),
        "other_manager": world.auth("manager.b"),
        "admin": world.auth("admin"),
        "other_org": world.auth("other.admin"),
        "no_token": {},
        "bad_token": {"Authorization": "Bearer dp_forged-token-that-does-not-exist"},
    }[actor]


def expected(actor: str, ok: int) -> int:
    """The status an actor should get for a deal-scoped endpoint that answers `ok` to allowed callers."""
    if actor in ("no_token", "bad_token"):
        return 401
    return ok if actor in ALLOWED else 404


def deal_requests(world):
    """(name, method, url, json body, status for allowed callers) for every deal-scoped endpoint."""
    opp = world.opportunities["a1_acme"]
    contact = world.contacts["tech@acme.test.example"]
    return [
        ("get", "GET", f"/api/v1/opportunities/{opp}", None, 200),
        ("history", "GET", f"/api/v1/opportunities/{opp}/history", None, 200),
        ("update", "PATCH", f"/api/v1/opportunities/{opp}", {"version": 1, "next_step": "x"}, 200),
        ("exit", "PUT", f"/api/v1/opportunities/{opp}/exit-answers", {"version": 1, "answers": {"within_budget": True}}, 200),
        ("buying", "PUT", f"/api/v1/opportunities/{opp}/buying-team/{contact}", {"version": 1, "role": "champion"}, 200),
    ]


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ["get", "history", "update", "exit", "buying"])
def test_deal_endpoints(client, world, actor, endpoint):
    name, method, url, body, ok = next(r for r in deal_requests(world) if r[0] == endpoint)
    response = client.open(url, method=method, json=body, headers=headers_for(world, actor))
    assert response.status_code == expected(actor, ok), response.json


@pytest.mark.parametrize("actor", ACTORS)
def test_list_never_leaks_other_deals(client, world, actor):
    response = client.get("/api/v1/opportunities?scope=all", headers=headers_for(world, actor))
    if actor in ("no_token", "bad_token"):
        assert response.status_code == 401
        return
    assert response.status_code == 200
    visible = {o["id"] for o in response.json["items"]}
    mine = {
        "owner": {"a1_acme", "a1_globex"},
        "other_rep": {"b1_acme", "b1_won"},
        "team_manager": {"a1_acme", "a1_globex", "a2_initech"},
        "other_manager": {"b1_acme", "b1_won"},
        "admin": {"a1_acme", "a1_globex", "a2_initech", "b1_acme", "b1_won"},
        "other_org": {"other.a1_acme", "other.a1_globex", "other.a2_initech", "other.b1_acme", "other.b1_won"},
    }[actor]
    assert visible == {world.opportunities[k] for k in mine}


@pytest.mark.parametrize("actor", ACTORS)
def test_stage_admin_endpoints(client, world, actor):
    body = {"name": "Security", "position": 9, "probability": 50,
            "exit_questions": [{"key": "dpa", "text": "DPA signed?"}, {"key": "pentest", "text": "Pentest shared?"}]}
    response = client.put("/api/v1/stages/security", json=body, headers=headers_for(world, actor))
    want = {"no_token": 401, "bad_token": 401, "admin": 201, "other_org": 201}.get(actor, 403)
    assert response.status_code == want
    listing = client.get("/api/v1/stages", headers=headers_for(world, actor))
    assert listing.status_code == (401 if actor in ("no_token", "bad_token") else 200)


@pytest.mark.parametrize("actor", ACTORS)
def test_create_for_someone_else(client, world, actor):
    body = {"name": "Assigned", "account_id": world.accounts["acme"], "stage": "qualification", "owner_id": world.users["rep.a2"]}
    response = client.post("/api/v1/opportunities", json=body, headers=headers_for(world, actor))
    want = {"no_token": 401, "bad_token": 401, "team_manager": 201, "admin": 201}.get(actor, 422)
    assert response.status_code == want


def test_every_api_endpoint_requires_a_credential(app, client):
    """Walks the URL map: no /api/v1 endpoint but the OpenAPI document answers without a valid credential."""
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        url = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"Authorization": "Bearer dp_nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}):
                response = client.open(url, method=method, json={}, headers=headers)
                assert response.status_code == 401, f"{method} {rule.rule} answered {response.status_code} without a valid credential"
                checked += 1
    assert checked >= 24
