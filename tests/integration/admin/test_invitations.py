"""Issue #16: invitations by e-mail (signed, expiring, one use, bound to the provider subject) and JIT provisioning."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from sqlalchemy import select

from dealpulse.services.invitations import SignInClaims, provision_just_in_time
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.google_identity import subject_for
from dealpulse.store import Invitation, Organisation, Team, User
from tests.integration.admin.pages_support import sign_in
from tests.integration.alerts.test_delivery import smtp  # noqa: F401 - the SMTP sink fixture
from tests.integration.alerts.test_signin_providers import _follow_provider

INVITEE = "new.rep@seller.example"
LINK = re.compile(r'id="invite-link" class="copy" type="text" readonly value="[^"]*(/invite/[^"]+)"')


@pytest.fixture
def settings(settings):
    """Demo mode on (the admin signs in with the picker); no SMTP server, so the page shows the link."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def google(app):
    with GoogleStandIn() as standin:
        app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], **standin.settings_overrides())
        yield standin


def _invite(client, world, db, email: str = INVITEE, role: str = "rep") -> str:
    csrf = sign_in(client, world.users["admin"])
    with db.uow() as uow:
        team_b = uow.s.scalar(select(Team.id).where(Team.org_id == world.org_id, Team.name.like("%B%")))
    page = client.post("/admin/people/invite", data={"csrf_token": csrf, "email": email, "name": "New Rep", "role": role,
                                                     "team_id": team_b})
    assert page.status_code == 200, page.get_data(as_text=True)
    return LINK.search(page.get_data(as_text=True)).group(1)


def _google_sign_in(browser, google, address: str):
    google.add_user(address)
    google.auth_user = address
    return browser.get(_follow_provider(browser.get("/signin/google").headers["Location"]))


def test_an_invited_person_signs_in_with_google_and_becomes_that_user(app, client, world, db, google):
    link = _invite(client, world, db)
    invitee = app.test_client()
    page = invitee.get(link)
    assert page.status_code == 200 and "Join Test" in page.get_data(as_text=True)

    assert _google_sign_in(invitee, google, INVITEE).status_code == 302
    assert INVITEE in invitee.get("/dashboard/").get_data(as_text=True)
    with db.uow() as uow:
        user = uow.s.scalar(select(User).where(User.email == INVITEE))
        team = uow.s.get(Team, user.team_id)
        assert (user.role, user.org_id, user.google_subject) == ("rep", world.org_id, subject_for(INVITEE))
        assert "B" in team.name
        assert uow.s.scalar(select(Invitation.accepted_at)) is not None
    assert app.test_client().get(link).status_code == 410  # one use


def test_an_expired_invitation_opens_nothing_and_creates_no_user(app, client, world, db, google):
    link = _invite(client, world, db)
    with db.uow() as uow:
        invitation = uow.s.scalar(select(Invitation))
        invitation.expires_at = invitation.created_at - timedelta(seconds=1)
        uow.commit()
    invitee = app.test_client()
    page = invitee.get(link)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    refused = _google_sign_in(invitee, google, INVITEE)
    assert refused.status_code == 403
    with db.uow() as uow:
        assert uow.s.scalar(select(User).where(User.email == INVITEE)) is None


def test_a_tampered_or_withdrawn_link_is_refused(app, client, world, db):
    link = _invite(client, world, db)
    assert app.test_client().get(link[:-3] + "abc").status_code == 410
    csrf = sign_in(client, world.users["admin"])
    with db.uow() as uow:
        invitation_id = uow.s.scalar(select(Invitation.id))
    assert client.post(f"/admin/people/invitations/{invitation_id}/revoke", data={"csrf_token": csrf}).status_code == 303
    page = app.test_client().get(link)
    assert page.status_code == 410 and "withdrawn" in page.get_data(as_text=True)


def test_signing_in_with_another_account_does_not_accept_the_invitation(app, client, world, db, google):
    link = _invite(client, world, db)
    invitee = app.test_client()
    invitee.get(link)
    refused = _google_sign_in(invitee, google, "someone.else@seller.example")
    assert refused.status_code == 403 and f"for {INVITEE}" in refused.get_data(as_text=True)
    with db.uow() as uow:
        assert uow.s.scalar(select(User).where(User.email.in_([INVITEE, "someone.else@seller.example"]))) is None
        assert uow.s.scalar(select(Invitation.accepted_at)) is None


def test_an_address_already_in_use_cannot_be_invited(client, world, db):
    csrf = sign_in(client, world.users["admin"])
    page = client.post("/admin/people/invite", data={"csrf_token": csrf, "email": "rep.a1@seller.example", "name": "X", "role": "rep"})
    assert page.status_code == 422 and "already a DealPulse user" in page.get_data(as_text=True)


def _jit(db, world, on: bool) -> None:
    with db.uow() as uow:
        org = uow.s.get(Organisation, world.org_id)
        org.settings = {**(org.settings or {}), "jit_provisioning": on,
                        "ms_tenant_ids": ["9188040d-6c67-4c5b-b112-36a304b66dad"]}
        uow.commit()


def test_jit_provisioning_signs_in_a_verified_domain_address_as_a_rep_without_a_team(app, world, db, google):
    _jit(db, world, True)
    browser = app.test_client()
    assert _google_sign_in(browser, google, "fresh.face@seller.example").status_code == 302
    with db.uow() as uow:
        user = uow.s.scalar(select(User).where(User.email == "fresh.face@seller.example"))
        assert (user.org_id, user.role, user.team_id) == (world.org_id, "rep", None)
    stranger = app.test_client()
    assert _google_sign_in(stranger, google, "fresh.face@elsewhere.example").status_code == 403


def test_without_jit_an_unknown_address_is_refused(app, world, db, google):
    _jit(db, world, False)
    assert _google_sign_in(app.test_client(), google, "fresh.face@seller.example").status_code == 403
    with db.uow() as uow:
        assert uow.s.scalar(select(User).where(User.email == "fresh.face@seller.example")) is None


@pytest.mark.parametrize(("claims", "joins"), [
    (SignInClaims("ann@seller.example", True), True),
    (SignInClaims("ann@sales.seller.example", True), True),  # a subdomain of the organisation's domain
    (SignInClaims("ann@seller.example", False), False),  # the provider did not verify the address
    (SignInClaims("ann@seller.example.evil.example", True), False),
    (SignInClaims("ann@gmail.com", True), False),
    (SignInClaims("ann@seller.example", True, tenant_id="9188040d-6c67-4c5b-b112-36a304b66dad"), True),
    (SignInClaims("ann@seller.example", True, tenant_id="00000000-0000-0000-0000-000000000001"), False),  # unlisted tenant
    (SignInClaims("rep.a1@seller.example", True), False),  # already a user
])
def test_jit_only_for_verified_addresses_of_the_organisations_domains(db, world, claims, joins):
    _jit(db, world, True)
    with db.uow() as uow:
        created = provision_just_in_time(uow, claims)
        uow.commit()
    assert (created is not None) is joins


def test_the_admin_api_invites_lists_and_withdraws(app, client, world, db):
    admin = world.auth("admin")
    created = client.post("/api/v1/admin/invitations", json={"email": "api.rep@seller.example", "name": "Api Rep"}, headers=admin)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["state"] == "pending" and body["emailed"] is False and "/invite/" in body["link"]
    assert app.test_client().get(body["link"].split("127.0.0.1:5000", 1)[-1]).status_code == 200
    listed = client.get("/api/v1/admin/invitations", headers=admin).get_json()["items"]
    assert [i["email"] for i in listed] == ["api.rep@seller.example"]
    revoked = client.post(f"/api/v1/admin/invitations/{body['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.get_json()["state"] == "revoked"
    assert client.post("/api/v1/admin/invitations", json={"email": "x@seller.example", "name": "X"},
                       headers=world.auth("manager.a")).status_code == 403
    other = client.post(f"/api/v1/admin/invitations/{body['id']}/revoke", headers=world.auth("other.admin"))
    assert other.status_code == 404


def test_with_an_smtp_server_the_invitation_is_e_mailed_and_its_link_works(app, client, world, db, smtp):  # noqa: F811
    url, sink = smtp
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], smtp_url=url)
    csrf = sign_in(client, world.users["admin"])
    answer = client.post("/admin/people/invite", data={"csrf_token": csrf, "email": INVITEE, "name": "New Rep", "role": "rep"})
    assert answer.status_code == 303
    assert f"Invitation e-mailed to {INVITEE}" in client.get("/admin/people").get_data(as_text=True)
    recipient, raw = sink.messages.get(timeout=10)
    body = message_from_bytes(raw, policy=default_policy).get_body(("plain",)).get_content()
    assert recipient == [INVITEE] and "Test Org on DealPulse" in body
    link = re.search(r"http://\S+(/invite/\S+)", body).group(1)
    assert app.test_client().get(link).status_code == 200
