"""Issue #16: the admin pages are admin-only, CSRF-checked, call the admin services, and refuse bad input visibly."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dealpulse.config import Settings
from dealpulse.services.privacy_settings import purge_expired
from dealpulse.tasks import build_queues
from dealpulse.store import Activity, Invitation, Mailbox, Organisation, Stage, Team, User, utcnow
from tests.integration.admin.pages_support import ADMIN_PAGES, sign_in
from tests.integration.sidebar.support import Inbox

POSTS = (
    ("/admin/people/teams", {"name": "Gamma"}),
    ("/admin/people/invite", {"email": "new.rep@seller.example", "name": "New Rep", "role": "rep"}),
    ("/admin/stages", {"key": "x", "name": "X", "position": "9", "probability": "5"}),
    ("/admin/privacy", {"version": "1", "retention_days": "90"}),
)


@pytest.fixture
def settings(settings):
    """Demo mode: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def _team_id(db, org_id: int, name: str) -> int:
    with db.uow() as uow:
        return uow.s.scalar(select(Team.id).where(Team.org_id == org_id, Team.name.like(f"%{name}%")))


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_admin_page_opens_for_an_admin(client, world, path):
    sign_in(client, world.users["admin"])
    answer = client.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]


@pytest.mark.parametrize("who", ["rep.a1", "manager.a"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_reps_and_managers_get_an_html_403_page(client, world, who, path):
    sign_in(client, world.users[who])
    answer = client.get(path)
    assert answer.status_code == 403
    assert answer.mimetype == "text/html" and "Only admins open this page" in answer.get_data(as_text=True)


def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    answer = client.get("/admin/people")
    assert answer.status_code == 302 and "/signin" in answer.headers["Location"]


@pytest.mark.parametrize(("path", "fields"), POSTS)
def test_forms_without_the_csrf_token_change_nothing(client, world, db, path, fields):
    sign_in(client, world.users["admin"])
    answer = client.post(path, data=fields)
    assert answer.status_code == 400 and "did not come from DealPulse" in answer.get_data(as_text=True)
    with db.uow() as uow:
        assert uow.s.scalar(select(Team).where(Team.name == "Gamma")) is None
        assert uow.s.scalar(select(Invitation)) is None
        assert uow.s.scalar(select(Stage).where(Stage.key == "x")) is None
        assert "privacy" not in (uow.s.get(Organisation, world.org_id).settings or {})


def test_a_rep_posting_an_admin_form_with_a_valid_token_is_refused(client, world, db):
    csrf = sign_in(client, world.users["rep.a1"])
    answer = client.post("/admin/people/teams", data={"csrf_token": csrf, "name": "Gamma"})
    assert answer.status_code == 403
    with db.uow() as uow:
        assert uow.s.scalar(select(Team).where(Team.name == "Gamma")) is None


def test_changing_role_and_team_applies_to_that_users_next_request(app, client, world, db):
    csrf = sign_in(client, world.users["admin"])
    team_b = _team_id(db, world.org_id, "B")
    with db.uow() as uow:
        version = uow.s.get(User, world.users["rep.a1"]).version
    answer = client.post(f"/admin/people/users/{world.users['rep.a1']}",
                         data={"csrf_token": csrf, "version": version, "role": "manager", "team_id": team_b})
    assert answer.status_code == 303
    assert "manager, team" in client.get("/admin/people").get_data(as_text=True)
    with db.uow() as uow:
        user = uow.s.get(User, world.users["rep.a1"])
        assert (user.role, user.team_id) == ("manager", team_b)
    other = app.test_client()
    sign_in(other, world.users["rep.a1"])
    assert "(manager)" in other.get("/dashboard/").get_data(as_text=True)


def test_a_stale_form_shows_the_conflict_and_saves_nothing(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    answer = client.post(f"/admin/people/users/{world.users['rep.a1']}",
                         data={"csrf_token": csrf, "version": 99, "role": "admin", "team_id": ""})
    assert answer.status_code == 409 and "Someone else changed this" in answer.get_data(as_text=True)
    with db.uow() as uow:
        assert uow.s.get(User, world.users["rep.a1"]).role == "rep"


def test_deactivating_from_the_page_blocks_that_users_token_at_once(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    answer = client.post(f"/admin/people/users/{world.users['rep.a2']}/deactivate", data={"csrf_token": csrf})
    assert answer.status_code == 303
    api = client.application.test_client()
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {world.tokens['rep.a2']}"}).status_code == 401


def test_a_team_gets_a_manager_and_a_new_name(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    team_a = _team_id(db, world.org_id, "A")
    with db.uow() as uow:
        version = uow.s.get(Team, team_a).version
    answer = client.post(f"/admin/people/teams/{team_a}", data={"csrf_token": csrf, "version": version, "name": "Enterprise",
                                                                "manager_id": world.users["manager.b"]})
    assert answer.status_code == 303
    with db.uow() as uow:
        team = uow.s.get(Team, team_a)
        assert (team.name, team.manager_id) == ("Enterprise", world.users["manager.b"])


def test_threshold_validation_is_shown_and_nothing_is_saved(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    team_a, team_b = _team_id(db, world.org_id, "A"), _team_id(db, world.org_id, "B")
    with db.uow() as uow:
        version = uow.s.get(Team, team_a).version
        team_b_days = uow.s.get(Team, team_b).gone_dark_after_days
    bad = client.post(f"/admin/thresholds/{team_a}", data={"csrf_token": csrf, "version": version, "team_id": team_a,
                                                          "gone_dark_days": "99", "tone_window": "5"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "gone_dark_days: must be between 14 and 42" in text
    assert 'value="99"' in text  # what the admin typed stays in the field
    with db.uow() as uow:
        team = uow.s.get(Team, team_a)
        assert team.gone_dark_after_days == 21 and "tone_window" not in (team.settings or {})
    good = client.post(f"/admin/thresholds/{team_a}", data={"csrf_token": csrf, "version": version, "team_id": team_a,
                                                           "gone_dark_days": "28", "tone_window": ""})
    assert good.status_code == 303
    with db.uow() as uow:
        assert uow.s.get(Team, team_a).gone_dark_after_days == 28
        assert uow.s.get(Team, team_b).gone_dark_after_days == team_b_days


def test_the_threshold_page_shows_each_default_and_range(client, world):
    sign_in(client, world.users["admin"])
    text = client.get("/admin/thresholds").get_data(as_text=True)
    assert 'placeholder="21"' in text and "14 to 42, whole numbers" in text


def test_a_stage_is_added_and_a_bad_one_refused(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    fields = {"csrf_token": csrf, "key": "pilot", "name": "Pilot", "position": "15", "probability": "40",
              "q1_key": "success_criteria", "q1_text": "Are the success criteria written down?"}
    bad = client.post("/admin/stages", data=fields)
    assert bad.status_code == 422 and "two or three exit questions" in bad.get_data(as_text=True)
    good = client.post("/admin/stages", data={**fields, "q2_key": "sponsor", "q2_text": "Has the sponsor agreed to the pilot?"})
    assert good.status_code == 303
    with db.uow() as uow:
        stage = uow.s.scalar(select(Stage).where(Stage.org_id == world.org_id, Stage.key == "pilot"))
        assert [q.key for q in stage.questions] == ["success_criteria", "sponsor"]
    assert client.post("/admin/stages/pilot/delete", data={"csrf_token": csrf}).status_code == 303


def test_privacy_rules_are_validated_and_retention_purges_only_that_organisation(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    bad = client.post("/admin/privacy", data={"csrf_token": csrf, "version": 1, "retention_days": "3"})
    assert bad.status_code == 422 and "from 30 to 3650" in bad.get_data(as_text=True)
    good = client.post("/admin/privacy", data={"csrf_token": csrf, "version": 1, "retention_days": "90",
                                               "exclude_free_mail": "on"})
    assert good.status_code == 303
    inbox = Inbox(db, world)
    old, recent = inbox.email(days_ago=120), inbox.email(days_ago=10)
    theirs = inbox.email(owner="other.rep.a1", opportunity=None, days_ago=400)
    assert purge_expired(db) == {world.org_id: 1}
    with db.uow() as uow:
        remaining = set(uow.s.scalars(select(Activity.id)))
    assert old.activity_id not in remaining and {recent.activity_id, theirs.activity_id} <= remaining


def test_the_mailbox_page_says_each_state_in_words_and_disconnects(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    with db.uow() as uow:
        box = Mailbox(org_id=world.org_id, user_id=world.users["rep.a1"], provider="gmail", address="rep.a1@seller.example",
                      sync_state="needs_reconnect", state_detail="invalid_grant: token revoked", consecutive_failures=3)
        uow.s.add(box)
        uow.commit()
        box_id = box.id
    text = client.get("/admin/mailboxes").get_data(as_text=True)
    assert "Access was revoked or expired: reconnect this mailbox." in text and "invalid_grant" in text
    assert "/connect/google" in text and "Test Rep A2" in text  # rep A2 has no mailbox
    assert client.post(f"/admin/mailboxes/{box_id}/disconnect", data={"csrf_token": csrf}).status_code == 303
    with db.uow() as uow:
        assert uow.s.get(Mailbox, box_id).sync_state == "disconnected"
    other = client.post("/admin/mailboxes/999999/disconnect", data={"csrf_token": csrf})
    assert other.status_code == 404


def test_the_add_in_downloads_point_at_this_server(app, client, world):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"],
                                                               base_url="https://dealpulse.seller.example")
    sign_in(client, world.users["admin"])
    manifest = client.get("/admin/addins/manifest.xml")
    assert manifest.headers["Content-Disposition"] == "attachment; filename=manifest.xml"
    assert "https://dealpulse.seller.example/addin/outlook/taskpane.html" in manifest.get_data(as_text=True)
    deployment = client.get("/admin/addins/deployment.json").get_json()
    assert deployment["addOns"]["common"]["homepageTrigger"]["runFunction"] == "https://dealpulse.seller.example/gmail/addon/homepage"


def test_the_add_in_page_says_why_there_is_no_manifest_for_a_plain_http_server(app, client, world):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], base_url="http://dealpulse.example")
    sign_in(client, world.users["admin"])
    assert "must be an https URL" in client.get("/admin/addins").get_data(as_text=True)
    assert client.get("/admin/addins/manifest.xml").status_code == 409


def test_the_navigation_links_admin_only_for_admins(client, world):
    sign_in(client, world.users["admin"])
    assert 'href="/admin/"' in client.get("/dashboard/").get_data(as_text=True)
    rep = client.application.test_client()
    sign_in(rep, world.users["rep.a1"])
    text = rep.get("/dashboard/").get_data(as_text=True)
    assert 'href="/admin/"' not in text and 'href="/settings/"' in text


def test_old_activity_purge_date_cutoff_is_the_retention_period(db, world):
    with db.uow() as uow:
        org = uow.s.get(Organisation, world.org_id)
        org.settings = {**(org.settings or {}), "privacy": {"retention_days": 30}}
        uow.commit()
    inbox = Inbox(db, world)
    kept = inbox.email(days_ago=29)
    assert purge_expired(db, now=utcnow()) == {world.org_id: 0}
    assert purge_expired(db, now=utcnow() + timedelta(days=2)) == {world.org_id: 1}
    with db.uow() as uow:
        assert uow.s.get(Activity, kept.activity_id) is None


def test_the_worker_runs_the_retention_purge_every_night(tmp_path):
    queues = build_queues(Settings(env="test", var_dir=tmp_path).resolved())
    due = {task.name for task in queues.default.read_periodic(datetime(2026, 1, 1, 3, 30))}
    assert "purge_past_retention" in due
    assert "purge_past_retention" not in {task.name for task in queues.default.read_periodic(datetime(2026, 1, 1, 4, 30))}
