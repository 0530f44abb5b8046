"""Push endpoints: Gmail Pub/Sub JWTs verified (forged, expired, wrong audience or issuer → 401); Graph handshake."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from werkzeug.serving import make_server

from dealpulse.crypto import derive_secret
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.services.subscriptions import ensure_subscription
from dealpulse.standins.google import PUSH_SERVICE_ACCOUNT
from dealpulse.standins.microsoft import MicrosoftStandIn

from .conftest import activity_count, connect, raw_mail

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"


def _push(client, google, audience: str, account: str = PUSH_SERVICE_ACCOUNT, **token_options):
    body, headers = google.pubsub_push(REP, audience)
    if token_options or account != PUSH_SERVICE_ACCOUNT:
        headers["Authorization"] = "Bearer " + google.issue_id_token(audience, account, **token_options)
    return client.post("/push/gmail", json=body, headers=headers)


def test_a_genuine_gmail_push_syncs_the_mailbox(db, world, settings, google, client, task_queue):
    connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Pushed"))

    response = _push(client, google, settings.google_pubsub_audience)

    assert response.status_code == 204
    assert task_queue.run_syncs() == ["idle"]
    assert activity_count(db) == 1


@pytest.mark.parametrize("case", ["forged", "expired", "wrong_audience", "wrong_issuer", "missing",
                                  "other_service_account", "unverified_email", "no_email", "not_configured"])
def test_bad_push_tokens_are_refused_and_sync_nothing(db, world, settings, google, client, task_queue, case):
    connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Should wait for the poll"))
    audience = settings.google_pubsub_audience
    now = int(time.time())
    if case == "forged":
        response = _push(client, google, audience, kid="not-a-published-key")
    elif case == "expired":
        response = _push(client, google, audience, iat=now - 7200, exp=now - 3600)
    elif case == "wrong_audience":
        response = _push(client, google, "https://elsewhere.example/push")
    elif case == "wrong_issuer":
        response = _push(client, google, audience, issuer="https://evil.example")
    elif case == "other_service_account":  # any Google Cloud project can point a push subscription at our URL
        response = _push(client, google, audience, account="attacker@evil-project.iam.gserviceaccount.com")
    elif case == "unverified_email":
        response = _push(client, google, audience, email_verified=False)
    elif case == "no_email":
        response = _push(client, google, audience, account="")
    elif case == "not_configured":
        client.application.extensions["dealpulse.settings"] = dataclasses.replace(settings, google_pubsub_service_account="")
        response = _push(client, google, audience)
    else:
        body, _ = google.pubsub_push(REP, audience)
        response = client.post("/push/gmail", json=body)

    assert response.status_code == 401
    assert response.is_json and response.get_json()["status"] == 401
    assert task_queue.run_syncs() == []
    assert activity_count(db) == 0


def test_push_for_an_unknown_mailbox_or_unreadable_data_is_acknowledged(db, world, settings, google, client, task_queue):
    google.add_user("stranger@elsewhere.example")
    body, headers = google.pubsub_push("stranger@elsewhere.example", settings.google_pubsub_audience)
    assert client.post("/push/gmail", json=body, headers=headers).status_code == 204
    body["message"]["data"] = "%%% not base64 json"
    assert client.post("/push/gmail", json=body, headers=headers).status_code == 204
    assert task_queue.run_syncs() == []


def test_graph_validation_handshake_echoes_the_token_as_plain_text(client):
    token = "Validation: Testing client application reachability <&> 42"
    response = client.post("/push/graph", query_string={"validationToken": token}, data=b"", content_type="text/plain")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == token


def test_graph_notification_with_a_wrong_client_state_is_refused(client):
    response = client.post("/push/graph", json={"value": [{"subscriptionId": "x", "clientState": "guess", "changeType": "created"}]})
    assert response.status_code == 403


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[REP]) as ms:
        yield ms


def test_graph_subscription_handshake_and_notification_sync_the_mailbox_end_to_end(db, world, settings, microsoft, task_queue):
    from dealpulse import runtime
    from dealpulse.app import create_app

    server = make_server("127.0.0.1", 0, None, threaded=True)  # bound first: the subscription needs our public URL
    base_url = f"http://127.0.0.1:{server.server_port}"
    ms_settings = dataclasses.replace(settings, base_url=base_url, **microsoft.settings_overrides())
    runtime.reset()
    runtime.configure(ms_settings, db)
    app = create_app(ms_settings)
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        refresh = microsoft.issue_refresh_token(REP)
        with db.uow() as uow:
            box = add_mailbox(uow, ms_settings, provider="microsoft", address=REP, refresh_token=refresh)
        expires = ensure_subscription(db, ms_settings, box)
        assert expires is not None
        (subscription,) = microsoft.subscriptions.values()
        assert microsoft.validations and microsoft.validations[-1].echoed
        assert subscription.client_state == derive_secret(ms_settings, "graph-client-state")[:128]

        microsoft.add_message(REP, from_=f"Ann Buyer <{BUYER}>", to=[REP], subject="Notified", body_text="Any news?")
        status = microsoft.notify(subscription.id)

        assert status == 202
        assert task_queue.run_syncs() == ["idle"]
        assert activity_count(db) == 1
    finally:
        server.shutdown()
        server.server_close()
        runtime.reset(keep=db)


def test_gmail_watch_is_created_and_renewed_before_it_expires(db, world, settings, google):
    from datetime import timedelta

    from dealpulse.services.subscriptions import renew_expiring
    from dealpulse.store import Mailbox, utcnow

    topic_settings = dataclasses.replace(settings, gmail_pubsub_topic="projects/dealpulse/topics/gmail")
    box = connect(db, topic_settings, google, REP)

    assert renew_expiring(db, topic_settings) == 1
    assert google.mailbox(REP).watch["topicName"] == "projects/dealpulse/topics/gmail"
    assert google.mailbox(REP).watch["labelFilterBehavior"] == "include"  # the discovery document's casing
    with db.uow() as uow:
        expires = uow.s.get(Mailbox, box).subscription_expires_at
    assert expires > utcnow() + timedelta(days=6)
    assert renew_expiring(db, topic_settings) == 0  # still valid for days: nothing to do
    assert renew_expiring(db, topic_settings, now=expires - timedelta(hours=1)) == 1
    assert renew_expiring(db, settings, now=utcnow() + timedelta(days=30)) == 0  # due, but no topic: polling only
