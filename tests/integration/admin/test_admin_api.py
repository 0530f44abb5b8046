"""/api/v1/admin/: every endpoint behind the admin role and the organisation boundary; version guards; bad input;
deactivation that takes effect at once (tokens and dashboard sessions)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import func, select

from dealpulse.store import AuditEntry, Organisation, Team, User

ACTORS = ["admin", "rep", "manager", "other_admin", "no_token"]


def headers_for(world, actor: str) -> dict[str, str]:
    """Authorization headers for a kind of caller."""
    return {
        "admin": world.auth("admin"),
        "rep": world.auth("rep.a1"),
        "manager": world.auth("manager.a"),
        "other_admin": world.auth("other.admin"),
        "no_token": {},
    }[actor]


def team_id(db, org_id: int, name: str) -> int:
    """The id of a team by name."""
    with db.uow() as uow:
        return uow.s.scalar(select(Team.id).where(Team.org_id == org_id, Team.name == name))


def admin_requests(world, db) -> dict[str, tuple[str, str, dict | None, int, int]]:
    """name -> (method, url, body, status for the admin, status for another organisation's admin).

    Another organisation's admin reads and changes their own organisation's lists and settings; an object of this
    one is not found (404), and this organisation's team in a body is an unknown team (422)."""
    team_a = team_id(db, world.org_id, "Test Team A")
    rep = world.users["rep.a2"]
    return {
        "org_get": ("GET", "/api/v1/admin/organisation", None, 200, 200),
        "org_patch": ("PATCH", "/api/v1/admin/organisation", {"version": 1, "ms_tenant_ids": ["9188040D-6C67-4C5B-B112-36A304B66DAD"]}, 200, 200),
        "users_list": ("GET", "/api/v1/admin/users", None, 200, 200),
        "users_create": ("POST", "/api/v1/admin/users", {"email": "new.rep@seller.example", "name": "New Rep", "role": "rep", "team_id": team_a}, 201, 422),
        "user_get": ("GET", f"/api/v1/admin/users/{rep}", None, 200, 404),
        "user_patch": ("PATCH", f"/api/v1/admin/users/{rep}", {"version": 1, "role": "manager"}, 200, 404),
        "user_deactivate": ("POST", f"/api/v1/admin/users/{rep}/deactivate", None, 200, 404),
        "thresholds": ("GET", "/api/v1/admin/thresholds", None, 200, 200),
        "teams_list": ("GET", "/api/v1/admin/teams", None, 200, 200),
        "teams_create": ("POST", "/api/v1/admin/teams", {"name": "Test Team C", "thresholds": {"gone_dark_days": 30}}, 201, 201),
        "team_get": ("GET", f"/api/v1/admin/teams/{team_a}", None, 200, 404),
        "team_patch": ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "name": "Test Team Alpha"}, 200, 404),
    }


ENDPOINTS = ["org_get", "org_patch", "users_list", "users_create", "user_get", "user_patch", "user_deactivate",
             "thresholds", "teams_list", "teams_create", "team_get", "team_patch"]


def audit_count(db, org_id: int | None = None) -> int:
    """Rows in the audit log, of one organisation when given (every admin write adds some)."""
    query = select(func.count()).select_from(AuditEntry)
    with db.uow() as uow:
        return uow.s.scalar(query.where(AuditEntry.org_id == org_id) if org_id else query)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_admin_endpoints_need_an_admin_of_that_organisation(client, db, world, actor, endpoint):
    method, url, body, ok, other_admin = admin_requests(world, db)[endpoint]
    writes_here = audit_count(db, world.org_id)
    response = client.open(url, method=method, json=body, headers=headers_for(world, actor))
    expected = {"admin": ok, "other_admin": other_admin, "no_token": 401, "rep": 403, "manager": 403}[actor]
    assert response.status_code == expected, response.json
    assert response.mimetype == ("application/json" if response.status_code < 400 else "application/problem+json")
    if actor != "admin":
        assert audit_count(db, world.org_id) == writes_here  # nothing of this organisation changed
    elif method != "GET":
        assert audit_count(db, world.org_id) > writes_here


def test_lists_show_only_the_callers_organisation(client, world):
    for actor, org_prefix in (("admin", "Test"), ("other_admin", "Other")):
        users = client.get("/api/v1/admin/users", headers=headers_for(world, actor)).json["items"]
        teams = client.get("/api/v1/admin/teams", headers=headers_for(world, actor)).json["items"]
        org = client.get("/api/v1/admin/organisation", headers=headers_for(world, actor)).json
        assert {u["name"].split()[0] for u in users} == {org_prefix}
        assert {t["name"].split()[0] for t in teams} == {org_prefix}
        assert org["name"] == f"{org_prefix} Org"


def test_another_organisations_team_cannot_be_referenced(client, db, world):
    other_team = team_id(db, world.other_org_id, "Other Team A")
    created = client.post("/api/v1/admin/users", headers=world.auth("admin"),
                          json={"email": "sneaky@seller.example", "name": "Sneaky", "team_id": other_team})
    assert created.status_code == 422 and created.json["errors"][0]["field"] == "team_id"
    team_a = team_id(db, world.org_id, "Test Team A")
    patched = client.patch(f"/api/v1/admin/teams/{team_a}", headers=world.auth("admin"),
                           json={"version": 1, "manager_id": world.users["other.manager.a"]})
    assert patched.status_code == 422 and patched.json["errors"][0]["field"] == "manager_id"


def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(client, db, world):
    admin = world.auth("admin")
    team_a = team_id(db, world.org_id, "Test Team A")
    writes = audit_count(db)
    cases = [
        ("POST", "/api/v1/admin/users", {"email": "not-an-address", "name": "X"}, "email"),
        ("POST", "/api/v1/admin/users", {"email": "x@seller.example", "name": "X", "role": "boss"}, "role"),
        ("POST", "/api/v1/admin/users", {"email": "REP.A1@seller.example", "name": "Dup"}, "email"),
        ("POST", "/api/v1/admin/users", {"email": "x@seller.example", "name": "X", "colour": "red"}, "colour"),
        ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "thresholds": {"gone_dark_days": 90}}, "thresholds.gone_dark_days"),
        ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "thresholds": {"tone_alpha": "high"}}, "thresholds.tone_alpha"),
        ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "thresholds": {"late_stages": ["nope"]}}, "thresholds.late_stages"),
        ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "thresholds": {"gone_dark_days": True}}, "thresholds.gone_dark_days"),
        ("PATCH", f"/api/v1/admin/teams/{team_a}", {"version": 1, "manager_id": world.users["rep.a1"]}, "manager_id"),
        ("POST", "/api/v1/admin/teams", {"name": "test team a"}, "name"),
        ("PATCH", "/api/v1/admin/organisation", {"version": 1, "domains": ["gmail.com"]}, "domains"),
        ("PATCH", "/api/v1/admin/organisation", {"version": 1, "domains": ["other-seller.example"]}, "domains"),
        ("PATCH", "/api/v1/admin/organisation", {"version": 1, "ms_tenant_ids": ["not-a-guid"]}, "ms_tenant_ids"),
        ("PATCH", "/api/v1/admin/organisation", {"version": 1, "google_workspace_domain": "no spaces.example"}, "google_workspace_domain"),
        ("PATCH", f"/api/v1/admin/users/{world.users['manager.a']}", {"version": 1, "role": "rep"}, "role"),
    ]
    for method, url, body, field in cases:
        response = client.open(url, method=method, json=body, headers=admin)
        assert response.status_code == 422, (body, response.json)
        assert response.mimetype == "application/problem+json"
        assert any(e["field"].endswith(field) for e in response.json["errors"]), (body, response.json)
    assert client.post("/api/v1/admin/users", headers=admin, data="{", content_type="application/json").status_code == 422
    assert client.patch(f"/api/v1/admin/teams/{team_a}", headers=admin, json={"name": "No version"}).status_code == 428
    assert audit_count(db) == writes


def test_a_stale_write_changes_nothing_and_returns_the_current_state(client, db, world):
    admin = world.auth("admin")
    team_a = team_id(db, world.org_id, "Test Team A")
    url = f"/api/v1/admin/teams/{team_a}"
    read = client.get(url, headers=admin)
    assert read.headers["ETag"] == '"1"'
    first = client.patch(url, headers={**admin, "If-Match": read.headers["ETag"]}, json={"thresholds": {"gone_dark_days": 28}})
    assert first.status_code == 200 and first.json["version"] == 2
    second = client.patch(url, headers={**admin, "If-Match": read.headers["ETag"]}, json={"thresholds": {"gone_dark_days": 35}})
    assert second.status_code == 412
    assert second.json["current"]["thresholds"]["gone_dark_days"] == 28
    assert [c["field"] for c in second.json["changes_since"]] == ["custom_thresholds"]
    in_body = client.patch(url, headers=admin, json={"version": 1, "name": "Renamed"})
    assert in_body.status_code == 409
    now = client.get(url, headers=admin).json
    assert (now["name"], now["thresholds"]["gone_dark_days"], now["version"]) == ("Test Team A", 28, 2)
    org = client.get("/api/v1/admin/organisation", headers=admin)
    ok = client.patch("/api/v1/admin/organisation", headers=admin, json={"version": 1, "google_workspace_domain": "Seller.example"})
    assert ok.status_code == 200 and ok.json["google_workspace_domain"] == "seller.example"
    stale = client.patch("/api/v1/admin/organisation", headers={**admin, "If-Match": org.headers["ETag"]}, json={"domains": []})
    assert stale.status_code == 412
    with db.uow() as uow:
        assert uow.s.get(Organisation, world.org_id).domains == ["seller.example"]


def test_role_and_team_changes_apply_to_the_users_next_request(client, db, world):
    admin, rep = world.auth("admin"), world.auth("rep.a2")
    team_b = team_id(db, world.org_id, "Test Team B")
    user_url = f"/api/v1/admin/users/{world.users['rep.a2']}"
    assert client.get("/api/v1/me", headers=rep).json["team_id"] != team_b
    changed = client.patch(user_url, headers=admin, json={"version": 1, "role": "admin", "team_id": team_b})
    assert changed.status_code == 200 and changed.json["manager_id"] == world.users["manager.b"]
    me = client.get("/api/v1/me", headers=rep).json
    assert (me["role"], me["team_id"]) == ("admin", team_b)
    assert client.get("/api/v1/admin/users", headers=rep).status_code == 200  # now an admin
    back = client.patch(user_url, headers=admin, json={"version": 2, "role": "rep", "team_id": None})
    assert back.status_code == 200 and back.json["team_id"] is None
    assert client.get("/api/v1/admin/users", headers=rep).status_code == 403


def test_the_last_active_admin_stays(client, world):
    admin = world.auth("admin")
    me = f"/api/v1/admin/users/{world.users['admin']}"
    assert client.patch(me, headers=admin, json={"version": 1, "role": "manager"}).status_code == 409
    assert client.post(f"{me}/deactivate", headers=admin).status_code == 409
    assert client.get("/api/v1/me", headers=admin).json["role"] == "admin"


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings):
    """Demo mode on: the dashboard's sign-in picker exists (to hold a real dashboard session)."""
    return dataclasses.replace(settings, demo=True)


def test_deactivation_blocks_tokens_and_the_dashboard_session_at_once(app, client, db, world):
    manager = app.test_client()
    page = manager.get("/signin/demo")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    assert manager.post("/signin/demo", data={"csrf_token": token, "user_id": world.users["manager.a"]}).status_code == 302
    assert manager.get("/dashboard/").status_code == 200
    assert client.get("/api/v1/me", headers=world.auth("manager.a")).status_code == 200

    rep_a2 = world.users["rep.a2"]
    done = client.post(f"/api/v1/admin/users/{world.users['manager.a']}/deactivate", headers=world.auth("admin"))
    assert done.status_code == 200, done.json
    assert done.json["is_active"] is False and done.json["tokens_revoked"] == 1
    assert done.json["teams_without_manager"] == ["Test Team A"]

    assert client.get("/api/v1/me", headers=world.auth("manager.a")).status_code == 401
    answer = manager.get("/dashboard/")
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]

    # A rep with open deals: they stay theirs and are flagged for reassignment.
    gone = client.post(f"/api/v1/admin/users/{rep_a2}/deactivate", headers=world.auth("admin")).json
    assert [d["id"] for d in gone["deals_to_reassign"]] == [world.opportunities["a2_initech"]]
    assert gone["needs_reassignment"] is True
    again = client.post(f"/api/v1/admin/users/{rep_a2}/deactivate", headers=world.auth("admin"))
    assert again.status_code == 200 and again.json["tokens_revoked"] == 0
    listed = client.get("/api/v1/admin/users?status=deactivated", headers=world.auth("admin")).json["items"]
    assert {u["email"]: u["needs_reassignment"] for u in listed} == {"manager.a@seller.example": False, "rep.a2@seller.example": True}
    deal = client.get(f"/api/v1/opportunities/{world.opportunities['a2_initech']}", headers=world.auth("admin"))
    assert deal.status_code == 200 and deal.json["owner"]["id"] == rep_a2
    with db.uow() as uow:
        assert uow.s.get(User, rep_a2).deactivated_at is not None


def test_admin_paths_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path, methods in {
        "/api/v1/admin/organisation": {"get", "patch"},
        "/api/v1/admin/users": {"get", "post"},
        "/api/v1/admin/users/{user_id}": {"get", "patch"},
        "/api/v1/admin/users/{user_id}/deactivate": {"post"},
        "/api/v1/admin/teams": {"get", "post"},
        "/api/v1/admin/teams/{team_id}": {"get", "patch"},
        "/api/v1/admin/thresholds": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
        for method in methods:
            assert paths[path][method]["security"] == [{"bearer": []}]
            assert "403" in paths[path][method]["responses"]


def test_deals_of_a_deactivated_rep_go_to_an_active_owner_only(client, world):
    admin = world.auth("admin")
    deal = f"/api/v1/opportunities/{world.opportunities['a2_initech']}"
    client.post(f"/api/v1/admin/users/{world.users['rep.a1']}/deactivate", headers=admin)
    to_inactive = client.patch(deal, headers=admin, json={"version": 1, "owner_id": world.users["rep.a1"]})
    assert to_inactive.status_code == 422 and to_inactive.json["errors"][0]["field"] == "owner_id"
    client.post(f"/api/v1/admin/users/{world.users['rep.a2']}/deactivate", headers=admin)
    moved = client.patch(deal, headers=admin, json={"version": 1, "owner_id": world.users["manager.a"]})
    assert moved.status_code == 200 and moved.json["owner"]["id"] == world.users["manager.a"]
    rep_a2 = client.get(f"/api/v1/admin/users/{world.users['rep.a2']}", headers=admin).json
    assert rep_a2["deals_to_reassign"] == [] and rep_a2["needs_reassignment"] is False


def test_ids_and_versions_no_database_can_hold_are_answered_not_crashed(client, db, world):
    # Found by fuzzing the admin API with schemathesis: these were 500s (integer overflow in the driver).
    admin = world.auth("admin")
    huge = 2**63
    assert client.get(f"/api/v1/admin/users/{huge}", headers=admin).status_code == 404
    assert client.patch(f"/api/v1/admin/teams/{huge}", headers=admin, json={"version": 1}).status_code == 404
    assert client.post("/api/v1/admin/users", headers=admin,
                       json={"email": "x@seller.example", "name": "X", "team_id": huge}).status_code == 422
    team_a = team_id(db, world.org_id, "Test Team A")
    stale = client.patch(f"/api/v1/admin/teams/{team_a}", headers={**admin, "If-Match": f'"{huge}"'}, json={"name": "Y"})
    assert stale.status_code == 412 and stale.json["current"]["name"] == "Test Team A"


def test_team_names_are_unique_ignoring_case_beyond_ascii(client, world):
    # Found by fuzzing: SQLite's lower() folds only ASCII, so 'Ö' and 'ö' slipped past the check into a 500.
    admin = world.auth("admin")
    assert client.post("/api/v1/admin/teams", headers=admin, json={"name": "Övertime"}).status_code == 201
    again = client.post("/api/v1/admin/teams", headers=admin, json={"name": " övertime"})
    assert again.status_code == 422 and again.json["errors"][0]["field"] == "name"
