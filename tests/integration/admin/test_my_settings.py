"""Issue #16: a rep's own settings: never-log entries apply to mail already captured (theirs only), private default."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from dealpulse.store import Activity, ActivitySource, Mailbox, NeverLogEntry, User
from tests.integration.admin.pages_support import sign_in
from tests.integration.sidebar.support import Inbox


@pytest.fixture
def settings(settings):
    """Demo mode: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def test_never_logging_a_domain_hides_that_reps_captured_mail_but_not_a_colleagues(client, world, db):
    inbox = Inbox(db, world)
    hidden = inbox.email(sender="buyer@acme.test.example")
    kept = inbox.email(sender="vp@initech.test.example", opportunity="a2_initech")
    shared = inbox.email(sender="tech@acme.test.example")
    colleague_box = inbox.mailbox("rep.a2")
    with db.uow() as uow:
        uow.s.add(ActivitySource(activity_id=shared.activity_id, mailbox_id=colleague_box, provider_id="x1", provider_thread_id="t"))
        uow.commit()

    csrf = sign_in(client, world.users["rep.a1"])
    answer = client.post("/settings/never-log", data={"csrf_token": csrf, "pattern": "@ACME.test.example"})
    assert answer.status_code == 303
    page = client.get("/settings/").get_data(as_text=True)
    assert "acme.test.example is never logged; 2 captured item(s) hidden from you." in page

    with db.uow() as uow:
        assert uow.s.get(Activity, hidden.activity_id) is None
        assert uow.s.get(Activity, kept.activity_id) is not None
        sources = uow.s.execute(select(ActivitySource.mailbox_id).where(ActivitySource.activity_id == shared.activity_id)).scalars().all()
        assert sources == [colleague_box]  # rep A2's copy stays
        assert uow.s.scalars(select(NeverLogEntry.pattern).where(NeverLogEntry.user_id == world.users["rep.a1"])).all() == ["acme.test.example"]


def test_a_bad_never_log_entry_is_refused_and_removal_works(client, world, db):
    csrf = sign_in(client, world.users["rep.a1"])
    bad = client.post("/settings/never-log", data={"csrf_token": csrf, "pattern": "not an address"})
    assert bad.status_code == 422 and "neither an address" in bad.get_data(as_text=True)
    client.post("/settings/never-log", data={"csrf_token": csrf, "pattern": "doctor@clinic.example"})
    assert client.post("/settings/never-log/remove", data={"csrf_token": csrf, "pattern": "doctor@clinic.example"}).status_code == 303
    assert client.post("/settings/never-log/remove", data={"csrf_token": csrf, "pattern": "doctor@clinic.example"}).status_code == 404
    with db.uow() as uow:
        assert uow.s.scalar(select(NeverLogEntry)) is None


def test_settings_forms_need_the_csrf_token(client, world, db):
    sign_in(client, world.users["rep.a1"])
    assert client.post("/settings/never-log", data={"pattern": "acme.test.example"}).status_code == 400
    assert client.post("/settings/private", data={"private_by_default": "on"}).status_code == 400
    with db.uow() as uow:
        assert uow.s.scalar(select(NeverLogEntry)) is None
        assert uow.s.get(User, world.users["rep.a1"]).private_by_default is None


def test_private_by_default_choice_and_mailbox_state_are_shown(client, world, db):
    with db.uow() as uow:
        uow.s.add(Mailbox(org_id=world.org_id, user_id=world.users["rep.a1"], provider="gmail", address="rep.a1@seller.example",
                          sync_state="needs_reconnect", state_detail="token revoked"))
        uow.commit()
    csrf = sign_in(client, world.users["rep.a1"])
    page = client.get("/settings/").get_data(as_text=True)
    assert "Access was revoked or expired: reconnect this mailbox." in page and "Reconnect rep.a1@seller.example" in page
    assert client.post("/settings/private", data={"csrf_token": csrf, "private_by_default": "on"}).status_code == 303
    with db.uow() as uow:
        assert uow.s.get(User, world.users["rep.a1"]).private_by_default is True
    assert client.post("/settings/private", data={"csrf_token": csrf, "private_by_default": "maybe"}).status_code == 422
