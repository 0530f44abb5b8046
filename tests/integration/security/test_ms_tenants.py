"""Audit finding 7 (and 10's tenant rules): no key fetch for tenants we do not serve; a capped, expiring,
rate-limited key cache; organisations without tenant ids accept none outside demo/test; users bound to `oid`."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from dealpulse.store import Organisation, User
from dealpulse.web.identity import MicrosoftTokenVerifier
from dealpulse.web.problems import Unauthorized

CLIENT_ID = "6e0b8c2a-4c2f-4b8e-9d51-0f3c2b1a9e77"
KID = "key-1"


class KeyServer:
    """A loopback JWKS endpoint per tenant (`/<tid>/keys`) that counts what it was asked for."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()
        self.fetches: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches.append(self.path.split("/")[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def token(self, tid: str, upn: str, oid: str | None = None, **claims) -> str:
        now = int(time.time())
        payload = {"aud": CLIENT_ID, "iss": f"https://login.example/{tid}/v2.0", "tid": tid, "iat": now, "exp": now + 600,
                   "scp": "access_as_user", "upn": upn, "oid": oid or str(uuid.uuid5(uuid.NAMESPACE_URL, upn)), **claims}
        if oid == "":
            del payload["oid"]
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": KID})


@pytest.fixture(scope="module")
def keys() -> Iterator[KeyServer]:
    server = KeyServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def settings(settings, keys):
    keys.fetches.clear()
    return dataclasses.replace(settings, env="production", secret_key="s" * 40, ms_client_id=CLIENT_ID,
                               ms_jwks_url=keys.url + "/{tid}/keys", ms_issuer="https://login.example/{tid}/v2.0")


def _tenant() -> str:
    return str(uuid.uuid4())


def _list_tenants(db, org_id: int, *tenants: str) -> None:
    with db.uow() as uow:
        org = uow.s.get(Organisation, org_id)
        org.settings = {**(org.settings or {}), "ms_tenant_ids": list(tenants)}
        uow.commit()


def _me(client, token: str):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_tokens_of_unknown_tenants_are_refused_without_fetching_their_keys(client, world, keys):
    for _ in range(20):
        answer = _me(client, keys.token(_tenant(), "rep.a1@seller.example"))
        assert answer.status_code == 401 and "not registered" in answer.get_json()["detail"]
    assert keys.fetches == []


def test_a_tenant_listed_by_an_organisation_is_served(client, db, world, keys):
    tenant = _tenant()
    _list_tenants(db, world.org_id, tenant.upper())
    answer = _me(client, keys.token(tenant, "rep.a1@seller.example"))
    assert answer.status_code == 200, answer.get_json()
    assert keys.fetches == [tenant]
    assert _me(client, keys.token(tenant, "rep.a1@seller.example")).status_code == 200
    assert keys.fetches == [tenant]  # cached


def test_tenants_in_the_server_settings_are_served(settings, db, world):
    tenant, other = _tenant(), _tenant()
    verifier = MicrosoftTokenVerifier(dataclasses.replace(settings, ms_tenant_ids=f" {tenant.upper()} , {other}"))
    with db.uow() as uow:
        assert verifier.tenant_served(tenant, uow.s) and verifier.tenant_served(other, uow.s)
        assert not verifier.tenant_served(_tenant(), uow.s)


def test_an_organisation_without_tenant_ids_accepts_no_microsoft_tenant_outside_demo_and_test(client, db, world, keys):
    tenant = _tenant()
    _list_tenants(db, world.other_org_id, tenant)  # the server serves the tenant, but for the other organisation
    answer = _me(client, keys.token(tenant, "rep.a1@seller.example"))
    assert answer.status_code == 401 and "tenant" in answer.get_json()["detail"]


def test_users_are_bound_to_their_object_id_on_first_sign_in(client, db, world, keys):
    tenant = _tenant()
    _list_tenants(db, world.org_id, tenant)
    first_oid = str(uuid.uuid4())
    assert _me(client, keys.token(tenant, "rep.a1@seller.example", oid=first_oid)).status_code == 200
    with db.uow() as uow:
        assert uow.s.get(User, world.users["rep.a1"]).ms_object_id == first_oid
    # Another account of the tenant that claims the same address (a renamed or recycled upn) is not that user.
    impostor = _me(client, keys.token(tenant, "rep.a1@seller.example", oid=str(uuid.uuid4())))
    assert impostor.status_code == 401
    # The bound account is recognised by its oid even after its address changed.
    renamed = _me(client, keys.token(tenant, "ann.renamed@seller.example", oid=first_oid))
    assert renamed.status_code == 200 and renamed.get_json()["email"] == "rep.a1@seller.example"


def test_tokens_without_an_object_id_are_refused(client, db, world, keys):
    tenant = _tenant()
    _list_tenants(db, world.org_id, tenant)
    assert _me(client, keys.token(tenant, "rep.a1@seller.example", oid="")).status_code == 401


def test_the_key_cache_is_capped_expires_and_new_tenant_fetches_are_rate_limited(settings, db, keys):
    now = [0.0]
    test_settings = dataclasses.replace(settings, env="test")
    verifier = MicrosoftTokenVerifier(test_settings, max_tenants=3, cache_seconds=60, fetches_per_minute=5,
                                      clock=lambda: now[0])
    tenants = [_tenant() for _ in range(8)]
    outcomes = []
    with db.uow() as uow:
        for tenant in tenants:
            try:
                verifier(keys.token(tenant, "nobody@elsewhere.example"), uow.s)
            except Unauthorized as exc:
                outcomes.append(exc.detail)
    assert len(keys.fetches) == 5  # the sixth to eighth new tenants within a minute are refused before fetching
    assert sum("Too many" in o for o in outcomes) == 3
    assert verifier.cached_tenants() == 3
    now[0] = 61.0
    assert verifier.cached_tenants() == 0
