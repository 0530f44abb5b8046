"""Add-in identity: Microsoft access tokens (Entra stand-in over TLS) and Google add-on ID tokens (Google stand-in).

Good tokens map to DealPulse users by verified address (aliases too); forged, expired, wrong-audience,
wrong-issuer and wrong-scope tokens are refused with 401. Keys rotate without a restart.
"""

from __future__ import annotations

import dataclasses
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.microsoft import MicrosoftStandIn
from dealpulse.web.identity import GoogleAddonVerifier, MicrosoftTokenVerifier
from dealpulse.web.problems import Unauthorized

ADDON_SA = "service-123@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
GOOGLE_CLIENT = "1234567890-addon.apps.googleusercontent.com"
ENDPOINT = "https://dealpulse.example.com/gmail/addon/homepage"


@pytest.fixture(scope="module")
def microsoft():
    """The Entra/Graph stand-in over TLS."""
    with MicrosoftStandIn(users=["rep.a1@seller.example"]) as standin:
        yield standin


@pytest.fixture
def settings(settings, microsoft):
    """Test settings pointed at the Microsoft stand-in."""
    return dataclasses.replace(settings, **microsoft.settings_overrides())


def _me(client, token):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_an_add_in_token_signs_the_rep_in(client, world, microsoft):
    token = microsoft.directory.issue_access_token(audience=microsoft.client_id, upn="rep.a1@seller.example")
    response = _me(client, token)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["email"] == "rep.a1@seller.example"


def test_api_uri_audience_and_alias_address_are_accepted(client, world, microsoft):
    token = microsoft.directory.issue_access_token(audience=f"api://dealpulse.example.com/{microsoft.client_id}",
                                                   upn="A1@seller.example", oid="0b9a7f0e-1d5c-4f1a-9e53-6f8a2d3c4b5a")
    assert _me(client, token).get_json()["email"] == "rep.a1@seller.example"


def test_sidebar_edits_with_a_microsoft_token_are_audited_as_outlook(client, world, microsoft):
    token = microsoft.directory.issue_access_token(audience=microsoft.client_id, upn="rep.a1@seller.example")
    headers = {"Authorization": f"Bearer {token}"}
    opp = world.opportunities["a1_acme"]
    current = client.get(f"/api/v1/opportunities/{opp}", headers=headers).get_json()
    saved = client.patch(f"/api/v1/opportunities/{opp}", json={"version": current["version"], "next_step": "Pilot"},
                         headers=headers)
    assert saved.status_code == 200
    history = client.get(f"/api/v1/opportunities/{opp}/history", headers=headers).get_json()["items"]
    assert (history[0]["field"], history[0]["surface"]) == ("next_step", "outlook")


def test_an_organisation_bound_to_its_tenant_refuses_other_tenants(client, world, db, microsoft):
    from dealpulse.store import Organisation

    with db.uow() as uow:
        org = uow.s.get(Organisation, world.org_id)
        org.settings = {**(org.settings or {}), "ms_tenant_ids": ["11111111-2222-4333-8444-555555555555"]}
        uow.commit()
    token = microsoft.directory.issue_access_token(audience=microsoft.client_id, upn="rep.a1@seller.example")
    response = _me(client, token)
    assert response.status_code == 401 and "tenant" in response.get_json()["detail"]
    with db.uow() as uow:
        org = uow.s.get(Organisation, world.org_id)
        org.settings = {**org.settings, "ms_tenant_ids": [microsoft.tenant_id.upper()]}
        uow.commit()
    assert _me(client, token).status_code == 200


def _rogue_token(microsoft, **claims):
    """Right claims, right kid, signed with a key the tenant never published."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {"aud": microsoft.client_id, "iss": microsoft.issuer, "tid": microsoft.tenant_id, "iat": now,
               "nbf": now, "exp": now + 600, "scp": "access_as_user", "upn": "rep.a1@seller.example", **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": microsoft.directory.current_kid})


@pytest.mark.parametrize("case", ["forged", "expired", "audience", "graph_audience", "issuer", "scope", "no_scope",
                                  "unsigned", "hs256", "unknown_user", "retired_key", "unknown_tenant"])
def test_bad_microsoft_tokens_are_refused(client, world, microsoft, case):
    d = microsoft.directory
    upn = "rep.a1@seller.example"
    if case == "forged":
        token = _rogue_token(microsoft)
    elif case == "expired":
        token = d.issue_access_token(audience=d.client_id, upn=upn, expires_in=-600)
    elif case == "audience":
        token = d.issue_access_token(audience="11111111-2222-3333-4444-555555555555", upn=upn)
    elif case == "graph_audience":
        token = d.issue_access_token(upn=upn)  # a Graph token is not for us
    elif case == "issuer":
        token = d.issue_access_token(audience=d.client_id, upn=upn, issuer="https://login.evil.example/x/v2.0")
    elif case == "scope":
        token = d.issue_access_token(audience=d.client_id, upn=upn, scp="Mail.Read")
    elif case == "no_scope":
        token = d.issue_access_token(audience=d.client_id, upn=upn, scp=None)
    elif case == "unsigned":
        token = d.issue_access_token(audience=d.client_id, upn=upn, alg="none")
    elif case == "hs256":
        now = int(time.time())
        token = jwt.encode({"aud": d.client_id, "iss": microsoft.issuer, "tid": d.tenant_id, "exp": now + 600,
                            "scp": "access_as_user", "upn": upn}, "x" * 32, algorithm="HS256")
    elif case == "unknown_user":
        token = d.issue_access_token(audience=d.client_id, upn="stranger@seller.example")
    elif case == "retired_key":
        old = d.current_kid
        d.rotate_key(keep_old=False)
        token = d.issue_access_token(audience=d.client_id, upn=upn, kid=old)
    else:
        token = d.issue_access_token(audience=d.client_id, upn=upn, tid="99999999-9999-4999-8999-999999999999",
                                     issuer=f"{microsoft.base_url}/99999999-9999-4999-8999-999999999999/v2.0")
    response = _me(client, token)
    assert response.status_code == 401, (case, response.get_json())
    assert response.get_json()["title"] == "Unauthorized"


def test_rotated_keys_are_fetched_without_a_restart(settings, db, world, microsoft):
    verifier = MicrosoftTokenVerifier(settings, cooldown=0)
    d = microsoft.directory
    first = d.issue_access_token(audience=d.client_id, upn="rep.a1@seller.example")
    assert verifier.verify(first)["upn"] == "rep.a1@seller.example"
    d.rotate_key(keep_old=False)
    second = d.issue_access_token(audience=d.client_id, upn="rep.a1@seller.example")
    assert verifier.verify(second)["upn"] == "rep.a1@seller.example"
    with pytest.raises(Unauthorized):  # the retired key left the JWKS: its tokens stop working
        verifier.verify(first)


# -- Google ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def google():
    """The Google stand-in (certificates and ID tokens)."""
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def addon_verifier(settings, google):
    """A verifier configured for the stand-in's certificates."""
    configured = dataclasses.replace(settings, google_certs_url=google.certs_url, google_addon_service_account=ADDON_SA,
                                     google_client_id=GOOGLE_CLIENT)
    return GoogleAddonVerifier(configured, cooldown=0)


def _system(google, **overrides):
    values = {"audience": ENDPOINT, "email": ADDON_SA, **overrides}
    return "Bearer " + google.issue_id_token(**values)


def test_a_genuine_add_on_request_names_the_user(addon_verifier, google):
    user = google.issue_id_token(GOOGLE_CLIENT, "Rep.A1@seller.example")
    caller = addon_verifier.verify(_system(google), ENDPOINT, user)
    assert caller.email == "rep.a1@seller.example"
    google.rotate_key(keep_previous=False)
    caller = addon_verifier.verify(_system(google), ENDPOINT, google.issue_id_token(GOOGLE_CLIENT, "rep.a1@seller.example"))
    assert caller.email == "rep.a1@seller.example"


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "audience", "issuer", "other_account", "no_user",
                                  "user_forged", "user_audience", "user_expired", "user_unverified"])
def test_bad_add_on_requests_are_refused(addon_verifier, google, case):
    header = _system(google)
    user = google.issue_id_token(GOOGLE_CLIENT, "rep.a1@seller.example")
    if case == "missing":
        header = ""
    elif case == "forged":
        header = _system(google, kid="not-published")
    elif case == "expired":
        header = _system(google, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    elif case == "audience":
        header = _system(google, audience="https://dealpulse.example.com/gmail/addon/other")
    elif case == "issuer":
        header = _system(google, issuer="https://accounts.evil.example")
    elif case == "other_account":
        header = _system(google, email="someone@gcp-sa-gsuiteaddons.iam.gserviceaccount.com")
    elif case == "no_user":
        user = ""
    elif case == "user_forged":
        user = google.issue_id_token(GOOGLE_CLIENT, "rep.a1@seller.example", kid="nope")
    elif case == "user_audience":
        user = google.issue_id_token("another-client", "rep.a1@seller.example")
    elif case == "user_expired":
        user = google.issue_id_token(GOOGLE_CLIENT, "rep.a1@seller.example", iat=int(time.time()) - 7200,
                                     exp=int(time.time()) - 3600)
    else:
        user = google.issue_id_token(GOOGLE_CLIENT, "rep.a1@seller.example", email_verified=False)
    with pytest.raises(Unauthorized):
        addon_verifier.verify(header, ENDPOINT, user)
