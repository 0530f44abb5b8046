"""Connecting a mailbox from the web UI through the real OAuth flows against the Google and Microsoft stand-ins."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from dealpulse.crypto import SecretBox
from dealpulse.standins.microsoft import MicrosoftStandIn
from dealpulse.store import Mailbox
from dealpulse.web.signin import session_values

from .conftest import activity_count, raw_mail

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"


def _follow_provider(location: str, verify: object = True) -> str:
    """Open the provider's consent URL like a browser; return where it sends us back (path and query)."""
    http = requests.Session()
    http.trust_env = False
    answer = http.get(location, allow_redirects=False, verify=verify, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def _sign_in(client, user_id: int) -> None:
    with client.session_transaction() as session:
        session.update(session_values(user_id, 0))


def _mailboxes(db) -> list[tuple[str, str, str]]:
    with db.uow() as uow:
        return [(m.provider, m.address, m.encrypted_credentials) for m in uow.s.scalars(select(Mailbox))]


def test_google_connect_stores_an_encrypted_refresh_token_and_queues_the_first_sync(db, world, settings, google, client, task_queue):
    google.add_user(REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Hello after connecting"))
    _sign_in(client, world.users["rep.a1"])

    start = client.get("/connect/google")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["access_type"] == ["offline"] and "code_challenge" in query
    assert set(query["scope"][0].split()) >= {"https://www.googleapis.com/auth/gmail.readonly"}
    assert not any("gmail.modify" in s or "mail.google.com" in s for s in query["scope"][0].split())
    done = client.get(_follow_provider(start.headers["Location"]))

    assert done.status_code == 200, done.get_data(as_text=True)
    ((provider, address, sealed),) = _mailboxes(db)
    assert (provider, address) == ("gmail", REP)
    assert "refresh_token" not in sealed and SecretBox(settings).open(sealed)["refresh_token"] in google.refresh_tokens(REP)
    assert task_queue.run_syncs() == ["idle"]
    assert activity_count(db) == 1


def test_google_connect_refuses_a_forged_state_and_someone_elses_mailbox(db, world, settings, google, client, task_queue):
    google.add_user("stranger@elsewhere.example")
    google.add_user(REP)
    _sign_in(client, world.users["rep.a1"])

    start = client.get("/connect/google")
    forged = _follow_provider(start.headers["Location"]).replace("state=", "state=x")
    assert client.get(forged).status_code == 400

    start = client.get("/connect/google")
    location = start.headers["Location"].replace("login_hint=rep.a1%40seller.example", "login_hint=stranger%40elsewhere.example")
    refused = client.get(_follow_provider(location))
    assert refused.status_code == 403
    assert _mailboxes(db) == [] and task_queue.run_syncs() == []


def test_connecting_needs_a_signed_in_user(client):
    response = client.get("/connect/google")
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert "/signin" in response.headers["Location"]


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[REP]) as ms:
        yield ms


def test_microsoft_connect_stores_the_refresh_token_and_syncs(app, db, world, settings, microsoft, client, task_queue):
    from dealpulse import runtime

    ms_settings = dataclasses.replace(settings, **microsoft.settings_overrides())
    app.extensions["dealpulse.settings"] = ms_settings
    runtime.configure(ms_settings)
    microsoft.add_message(REP, from_=f"Ann Buyer <{BUYER}>", to=[REP], subject="Graph hello", body_text="Ready to sign?")
    _sign_in(client, world.users["rep.a1"])

    start = client.get("/connect/microsoft")
    assert start.status_code == 302
    done = client.get(_follow_provider(start.headers["Location"], microsoft.ca_file))

    assert done.status_code == 200, done.get_data(as_text=True)
    ((provider, address, sealed),) = _mailboxes(db)
    assert (provider, address) == ("microsoft", REP)
    assert SecretBox(settings).open(sealed)["refresh_token"]
    assert task_queue.run_syncs() == ["idle"]
    assert activity_count(db) == 1
