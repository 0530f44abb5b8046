"""GraphConnector and msal against the local Microsoft stand-in over TLS: tokens, delta paging, faults, push."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import jwt
import lxml.html
import pytest
import requests

from dealpulse.config import Settings
from dealpulse.mail.graph import GraphConnector, dump_cursor, parse_cursor
from dealpulse.mail.ms_auth import GRAPH_SCOPES, MsalTokenProvider, acquire_access_token, build_msal_app
from dealpulse.mail.retry import RetryPolicy
from dealpulse.mail.types import (
    AuthRevokedError,
    ChangeBatch,
    CursorExpiredError,
    ProviderUnavailableError,
    ThrottledError,
)
from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.microsoft import MicrosoftStandIn, NotificationReceiver

OWNER = "rep@contoso.example"
START = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)


class Sleeps(list):
    """A fake sleep that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def ms() -> Iterator[MicrosoftStandIn]:
    with MicrosoftStandIn(users=[OWNER]) as standin:
        yield standin


@pytest.fixture
def settings(ms: MicrosoftStandIn, tmp_path: Path) -> Settings:
    # Bodies in the delta pages (the content-first mode); metadata first is tested on its own below.
    return Settings.from_env({}, env="test", var_dir=tmp_path, sync_metadata_first=False, **ms.settings_overrides())


def connect(ms: MicrosoftStandIn, settings: Settings, sleeps: Sleeps | None = None, **options) -> GraphConnector:
    provider = MsalTokenProvider(build_msal_app(settings), ms.issue_refresh_token(OWNER))
    options.setdefault("page_size", 7)
    options.setdefault("clock", lambda: START + timedelta(days=30))
    return GraphConnector(settings, provider, {OWNER}, sleep=sleeps if sleeps is not None else Sleeps(), **options)


def add_inbox(ms: MicrosoftStandIn, count: int, first: int = 0) -> list[str]:
    return [
        ms.add_message(
            OWNER, from_=f"Buyer {n} <buyer{n}@acme.example>", to=[OWNER], cc=["Boss <boss@acme.example>"],
            subject=f"Question {n}", body_html=f"<p>Hello,</p><p>question <b>{n}</b> about the quote.</p>",
            sent_at=START + timedelta(minutes=n), internet_message_id=f"q{n}@acme.example",
        )
        for n in range(first, first + count)
    ]


def add_sent(ms: MicrosoftStandIn, count: int, first: int = 0) -> list[str]:
    return [
        ms.add_message(
            OWNER, folder="sentitems", to=[f"buyer{n}@acme.example"], subject=f"Re: Question {n}",
            body_text=f"Answer {n}.", sent_at=START + timedelta(hours=1, minutes=n),
        )
        for n in range(first, first + count)
    ]


def final_cursor(batches: Iterable[ChangeBatch]) -> str:
    cursors = [b.cursor for b in batches if b.cursor]
    assert cursors, "the sync never reached a deltaLink"
    return cursors[-1]


def mail_ids(batches: Iterable[ChangeBatch]) -> list[str]:
    return [mail.provider_id for batch in batches for mail in batch.mails]


# -- msal ---------------------------------------------------------------------------------------------------
def test_refresh_token_gives_an_access_token_graph_accepts_and_a_rotated_refresh_token(ms, settings):
    refresh_token = ms.issue_refresh_token(OWNER)
    access_token, new_refresh_token = acquire_access_token(build_msal_app(settings), refresh_token, GRAPH_SCOPES)

    session = requests.Session()
    session.trust_env = False
    me = session.get(ms.graph_url + "me", headers={"Authorization": f"Bearer {access_token}"}, verify=ms.ca_file)
    assert me.status_code == 200
    assert me.json()["userPrincipalName"] == OWNER
    assert new_refresh_token and new_refresh_token != refresh_token
    assert [r.grant_type for r in ms.token_requests] == ["refresh_token"]


def test_token_provider_hands_over_each_rotated_refresh_token(ms, settings):
    stored: list[str] = []
    provider = MsalTokenProvider(build_msal_app(settings), ms.issue_refresh_token(OWNER), on_refresh_token=stored.append)

    first = provider()
    assert provider() == first  # cached until close to expiry
    provider(force_refresh=True)

    assert len(stored) == 2 and stored[-1] == provider.refresh_token
    assert len(ms.token_requests) == 2


def test_revoked_refresh_token_raises_auth_revoked(ms, settings):
    refresh_token = ms.issue_refresh_token(OWNER)
    ms.revoke_user(OWNER)
    with pytest.raises(AuthRevokedError, match="invalid_grant"):
        acquire_access_token(build_msal_app(settings), refresh_token)


def test_msal_ignores_the_environment_ca_bundle(ms, settings, monkeypatch):
    # REQUESTS_CA_BUNDLE points at the system store, which does not know the stand-in's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    token, _ = acquire_access_token(build_msal_app(settings), ms.issue_refresh_token(OWNER))
    assert token


# -- delta ------------------------------------------------------------------------------------------------
def test_full_sync_of_120_messages_across_pages_gets_each_once(ms, settings):
    inbox, sent = add_inbox(ms, 100), add_sent(ms, 20)

    batches = list(connect(ms, settings).changes(None))

    ids = mail_ids(batches)
    assert Counter(ids) == Counter(inbox + sent)  # immutable ids: the connector asked for them
    assert len(batches) > 120 // 7  # many pages, empty ones among them on the server side
    assert batches[0].full_resync
    mails = {m.provider_id: m for b in batches for m in b.mails}
    first = mails[inbox[0]]
    assert first.message_id == "q0@acme.example"
    assert first.sender.email == "buyer0@acme.example" and [a.email for a in first.cc] == ["boss@acme.example"]
    assert "question 0 about the quote" in " ".join(first.body_text.split()) and "<b>" in first.body_html
    assert first.labels == ["inbox"] and not first.is_sent
    assert all(mails[i].is_sent and mails[i].labels == ["sentitems"] for i in sent)
    assert first.sent_at == START and first.sent_at.tzinfo is not None
    cursor = parse_cursor(final_cursor(batches))
    assert all("$deltatoken=" in cursor[stream] for stream in ("inbox", "sentitems", "calendar"))


def test_incremental_sync_returns_only_new_messages(ms, settings):
    add_inbox(ms, 30)
    add_sent(ms, 5)
    connector = connect(ms, settings)
    cursor = final_cursor(list(connector.changes(None)))

    new_inbox, new_sent = add_inbox(ms, 3, first=100), add_sent(ms, 1, first=100)
    batches = list(connector.changes(cursor))

    assert sorted(mail_ids(batches)) == sorted(new_inbox + new_sent)
    assert not any(b.full_resync for b in batches)
    assert mail_ids(connector.changes(final_cursor(batches))) == []


def test_deleted_and_moved_messages_come_back_as_deleted_ids(ms, settings):
    inbox = add_inbox(ms, 10)
    connector = connect(ms, settings)
    cursor = final_cursor(list(connector.changes(None)))

    ms.delete_message(OWNER, inbox[0])
    ms.move_message(OWNER, inbox[1], "deleteditems")
    batches = list(connector.changes(cursor))

    assert sorted(i for b in batches for i in b.deleted_ids) == sorted(inbox[:2])
    assert mail_ids(batches) == []


def test_expired_delta_token_raises_cursor_expired_and_a_full_sync_recovers(ms, settings):
    inbox = add_inbox(ms, 12)
    connector = connect(ms, settings)
    cursor = final_cursor(list(connector.changes(None)))
    ms.expire_delta_tokens()

    with pytest.raises(CursorExpiredError) as caught:
        list(connector.changes(cursor))
    assert caught.value.restart_url.startswith(ms.graph_url + "me/mailFolders/inbox/messages/delta")
    assert caught.value.stream == "inbox"

    batches = list(connector.changes(None))
    assert Counter(mail_ids(batches)) == Counter(inbox)


def test_sync_state_not_found_is_also_an_expired_cursor(ms, settings):
    add_inbox(ms, 3)
    connector = connect(ms, settings)
    cursor = final_cursor(list(connector.changes(None)))
    ms.expire_delta_tokens(style="sync_state_not_found")
    with pytest.raises(CursorExpiredError):
        list(connector.changes(cursor))


def test_calendar_view_delta_maps_events_cancellations_and_deletions(ms, settings):
    now = START + timedelta(days=30)
    demo = ms.add_event(OWNER, subject="Demo with Acme", start=now + timedelta(days=2), end=now + timedelta(days=2, hours=1),
                        attendees=["Buyer One <buyer1@acme.example>", {"address": "cfo@acme.example", "response": "accepted"}],
                        location="Teams", body_text="Agenda: pricing")
    review = ms.add_event(OWNER, subject="Review", start=now - timedelta(days=3), attendees=["buyer2@acme.example"])
    ms.add_event(OWNER, subject="Far away", start=now + timedelta(days=400))
    connector = connect(ms, settings)

    batches = list(connector.changes(None))
    events = {e.provider_id: e for b in batches for e in b.events}
    assert set(events) == {demo, review}
    event = events[demo]
    assert event.subject == "Demo with Acme" and event.location == "Teams" and event.description == "Agenda: pricing"
    assert event.start == (now + timedelta(days=2)).replace(microsecond=0) and event.end - event.start == timedelta(hours=1)
    assert event.organizer.email == OWNER
    assert [a.email for a in event.attendees] == ["buyer1@acme.example", "cfo@acme.example"]
    assert event.ical_uid

    ms.cancel_event(OWNER, demo)
    ms.delete_event(OWNER, review)
    later = list(connector.changes(final_cursor(batches)))
    assert [e.cancelled for b in later for e in b.events] == [True]
    assert [i for b in later for i in b.deleted_ids] == [review]


def test_a_sync_killed_midway_resumes_the_unfinished_stream_after_its_last_committed_page(ms, settings):
    inbox, sent = add_inbox(ms, 10), add_sent(ms, 15)
    connector = connect(ms, settings, page_size=5)
    stored = None
    committed_sent: list[str] = []
    batches = connector.changes(None)
    for batch in batches:
        stored = batch.cursor  # every page carries a cursor, committed with the batch
        committed_sent += [m.provider_id for m in batch.mails if m.is_sent]
        if committed_sent:
            break  # killed during sent items
    batches.close()
    progress = parse_cursor(stored)
    assert "$deltatoken" in progress["inbox"] and "$skiptoken" in progress["sentitems"] and progress["calendar"] is None

    newer = add_inbox(ms, 1, first=50)
    resumed = list(connect(ms, settings, page_size=5).changes(stored))

    resumed_ids = mail_ids(resumed)
    assert [i for i in resumed_ids if i in inbox or i in newer] == newer
    assert Counter(i for i in resumed_ids if i not in newer) == Counter(i for i in sent if i not in committed_sent)


def test_bad_cursors_ask_for_a_full_sync(ms, settings):
    connector = connect(ms, settings)
    for bad in ("not json", json.dumps({"v": 99}), dump_cursor({"inbox": "javascript:alert(1)"})):
        with pytest.raises(CursorExpiredError):
            connector.changes(bad)


# -- failures ---------------------------------------------------------------------------------------------
def test_twenty_percent_mixed_faults_still_yield_every_message_exactly_once(ms, settings):
    inbox, sent = add_inbox(ms, 100), add_sent(ms, 20)
    plan = FaultPlan(0.2, kinds=("429", "500", "503", "drop"), seed=11, retry_after=1)
    ms.faults = plan
    sleeps = Sleeps()

    batches = list(connect(ms, settings, sleeps, retry_policy=RetryPolicy(attempts=8)).changes(None))

    assert Counter(mail_ids(batches)) == Counter(inbox + sent)
    assert plan.count() >= 5 and plan.count("drop") >= 1 and plan.count("429") >= 1
    assert len(sleeps) == plan.count()


def test_retry_after_is_honoured(ms, settings):
    inbox = add_inbox(ms, 3)
    ms.faults = FaultPlan()
    ms.faults.once("/messages/delta", status=429, retry_after=7)
    ms.faults.once("/calendarView/delta", status=503, retry_after=2)
    sleeps = Sleeps()

    batches = list(connect(ms, settings, sleeps).changes(None))

    assert sleeps == [7.0, 2.0]
    assert sorted(mail_ids(batches)) == sorted(inbox)


def test_a_long_retry_after_pauses_the_mailbox_instead_of_sleeping(ms, settings):
    add_inbox(ms, 3)
    ms.faults = FaultPlan()
    ms.faults.once("/messages/delta", status=429, retry_after=600)
    sleeps = Sleeps()
    with pytest.raises(ThrottledError) as caught:
        list(connect(ms, settings, sleeps).changes(None))
    assert caught.value.retry_after == 600 and sleeps == []


def test_a_rejected_access_token_is_refreshed_once(ms, settings):
    inbox = add_inbox(ms, 3)
    connector = connect(ms, settings)
    connector.token_provider()  # an access token is cached
    ms.invalidate_access_tokens(OWNER)

    batches = list(connector.changes(None))

    assert sorted(mail_ids(batches)) == sorted(inbox)
    assert [r.grant_type for r in ms.token_requests] == ["refresh_token", "refresh_token"]


def test_revoked_consent_during_sync_raises_auth_revoked_without_retrying_forever(ms, settings):
    add_inbox(ms, 3)
    connector = connect(ms, settings)
    connector.token_provider()
    ms.revoke_user(OWNER)

    with pytest.raises(AuthRevokedError):
        list(connector.changes(None))
    assert len(ms.token_requests) == 2


# -- subscriptions ----------------------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    with NotificationReceiver() as endpoint:
        yield endpoint


def graph_session(ms: MicrosoftStandIn, settings: Settings) -> requests.Session:
    token, _ = acquire_access_token(build_msal_app(settings), ms.issue_refresh_token(OWNER))
    session = requests.Session()
    session.trust_env = False
    session.verify = ms.ca_file
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def test_subscription_creation_performs_the_validation_handshake(ms, settings, receiver):
    session = graph_session(ms, settings)
    expires = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    created = session.post(ms.graph_url + "subscriptions", json={
        "changeType": "created,updated,deleted", "notificationUrl": receiver.url,
        "resource": "me/mailFolders('inbox')/messages", "expirationDateTime": expires, "clientState": "s3cret",
    })

    assert created.status_code == 201, created.text
    assert [v.echoed for v in ms.validations] == [True]
    assert " " in ms.validations[0].token  # a token that must be URL-decoded, as Graph's are
    subscription = created.json()

    message_id = add_inbox(ms, 1)[0]
    assert ms.notify(subscription["id"], change_type="created", resource_id=message_id) == 202
    notification = receiver.notifications.get(timeout=10)["value"][0]
    assert notification["clientState"] == "s3cret" and notification["subscriptionId"] == subscription["id"]
    assert notification["resourceData"]["id"] == message_id

    renewed = session.patch(ms.graph_url + f"subscriptions/{subscription['id']}",
                            json={"expirationDateTime": (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"] > subscription["expirationDateTime"]
    assert session.delete(ms.graph_url + f"subscriptions/{subscription['id']}").status_code == 204
    assert ms.subscriptions == {}


def test_subscription_is_refused_when_the_endpoint_does_not_echo(ms, settings):
    with NotificationReceiver(echo=False) as silent:
        response = graph_session(ms, settings).post(ms.graph_url + "subscriptions", json={
            "changeType": "created", "notificationUrl": silent.url, "resource": "/me/messages",
            "expirationDateTime": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
        })
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ValidationError"
    assert ms.subscriptions == {}


# -- Entra flows other parts of the product use ---------------------------------------------------------
def test_authorization_code_flow_connects_a_mailbox(ms, settings):
    app = build_msal_app(settings)
    flow = app.initiate_auth_code_flow(list(GRAPH_SCOPES), redirect_uri="http://127.0.0.1:5000/auth/microsoft/callback",
                                       login_hint=OWNER, response_mode="form_post")
    session = requests.Session()
    session.trust_env = False
    page = session.get(flow["auth_uri"], verify=ms.ca_file)
    assert page.status_code == 200
    form = lxml.html.fromstring(page.text).forms[0]
    assert form.method == "POST" and form.action == "http://127.0.0.1:5000/auth/microsoft/callback"
    answer = dict(form.form_values())

    result = app.acquire_token_by_auth_code_flow(flow, answer)

    assert result["id_token_claims"]["preferred_username"] == OWNER
    provider = MsalTokenProvider(build_msal_app(settings), result["refresh_token"])
    add_inbox(ms, 2)
    connector = GraphConnector(settings, provider, {OWNER}, sleep=Sleeps())
    assert len(mail_ids(connector.changes(None))) == 2
    replayed = build_msal_app(settings).acquire_token_by_auth_code_flow(flow, answer)
    assert "error" in replayed  # a code is redeemed once


def test_client_credentials_reach_users_mailboxes_but_not_me(ms, settings):
    inbox = add_inbox(ms, 2)
    result = build_msal_app(settings).acquire_token_for_client(["https://graph.microsoft.com/.default"])
    session = requests.Session()
    session.trust_env = False
    session.verify = ms.ca_file
    session.headers["Authorization"] = f"Bearer {result['access_token']}"

    me = session.get(ms.graph_url + "me")
    delta = session.get(ms.graph_url + f"users/{OWNER}/mailFolders/inbox/messages/delta",
                        headers={"Prefer": 'IdType="ImmutableId"'})

    assert me.status_code == 400
    assert delta.status_code == 200 and sorted(m["id"] for m in delta.json()["value"]) == sorted(inbox)


def test_add_in_tokens_verify_against_the_jwks_until_their_key_is_rotated_out(ms, settings):
    audience = f"api://127.0.0.1:5000/{ms.client_id}"
    token = ms.issue_access_token(audience=audience, scp="access_as_user", upn=OWNER)
    context = ssl.create_default_context(cafile=ms.ca_file)
    issuer = settings.ms_issuer.format(tid=ms.tenant_id)
    jwks = jwt.PyJWKClient(settings.ms_jwks_url.format(tid=ms.tenant_id), ssl_context=context, cache_jwk_set=False)

    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["RS256"], audience=audience,
                        issuer=issuer)
    assert claims["preferred_username"] == OWNER and claims["scp"] == "access_as_user" and claims["tid"] == ms.tenant_id

    ms.rotate_key()
    with pytest.raises(jwt.PyJWKClientError):
        jwks.get_signing_key_from_jwt(token)
    fresh = ms.issue_access_token(audience=audience, upn=OWNER)
    assert jwt.decode(fresh, jwks.get_signing_key_from_jwt(fresh).key, algorithms=["RS256"], audience=audience,
                      issuer=issuer)["upn"] == OWNER


def test_graph_rejects_tokens_for_other_audiences_expired_or_signed_by_retired_keys(ms):
    old_kid = ms.directory.current_kid
    ms.rotate_key()
    session = requests.Session()
    session.trust_env = False
    session.verify = ms.ca_file
    for token in (
        ms.issue_access_token(audience=f"api://127.0.0.1:5000/{ms.client_id}", scp="User.Read", upn=OWNER),
        ms.issue_access_token(scp="User.Read", upn=OWNER, expires_in=-30),
        ms.issue_access_token(scp="User.Read", upn=OWNER, kid=old_kid),
        ms.issue_access_token(scp="User.Read", upn=OWNER, alg="none"),
    ):
        answer = session.get(ms.graph_url + "me", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_the_command_line_stand_in_serves_a_mailbox_the_connector_syncs(tmp_path):
    command = [sys.executable, "-m", "dealpulse.standins.microsoft", "--user", OWNER, "--sample-mail", "4",
               "--tls-dir", str(tmp_path / "tls")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        printed = ""
        while True:  # the JSON document ends with a line holding only "}"
            line = process.stdout.readline()
            assert line, "the stand-in exited before printing its settings"
            printed += line
            if line.rstrip() == "}":
                break
        started = json.loads(printed)
        settings = Settings.from_env(started["environment"], env="test", var_dir=tmp_path)
        provider = MsalTokenProvider(build_msal_app(settings), started["refresh_tokens"][OWNER])
        batches = list(GraphConnector(settings, provider, {OWNER}, sleep=Sleeps()).changes(None))
        assert len(mail_ids(batches)) == 4
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
        process.stdout.close()


def test_a_long_retry_after_on_503_also_pauses_the_mailbox(ms, settings):
    add_inbox(ms, 1)
    ms.faults = FaultPlan()
    ms.faults.once("/v1.0/me/mailFolders/inbox", status=503, retry_after=900)
    with pytest.raises(ThrottledError) as caught:
        list(connect(ms, settings).changes(None))
    assert caught.value.retry_after == 900


def test_auto_notify_tells_matching_subscriptions_about_each_change(tmp_path):
    with MicrosoftStandIn(users=[OWNER], auto_notify=True) as standin, NotificationReceiver() as endpoint:
        standin_settings = Settings.from_env({}, env="test", var_dir=tmp_path, **standin.settings_overrides())
        session = graph_session(standin, standin_settings)
        created = session.post(standin.graph_url + "subscriptions", json={
            "changeType": "created,deleted", "notificationUrl": endpoint.url, "lifecycleNotificationUrl": endpoint.url,
            "resource": "me/mailFolders('inbox')/messages", "clientState": "k",
            "expirationDateTime": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat(),
        }).json()
        assert [v.echoed for v in standin.validations] == [True, True]

        standin.add_message(OWNER, folder="sentitems", to=["buyer@acme.example"], subject="not watched")
        message_id = standin.add_message(OWNER, from_="buyer@acme.example", to=[OWNER], subject="watched")
        standin.update_message(OWNER, message_id, isRead=True)  # "updated" is not subscribed
        standin.delete_message(OWNER, message_id)
        assert standin.notify_lifecycle(created["id"]) == 202

        received = [endpoint.notifications.get(timeout=10)["value"][0] for _ in range(3)]
        assert [n.get("changeType") for n in received[:2]] == ["created", "deleted"]
        assert {n["resourceData"]["id"] for n in received[:2]} == {message_id}
        assert received[2]["lifecycleEvent"] == "reauthorizationRequired"
        assert endpoint.notifications.empty() and standin.graph.notification_failures == []


def test_events_in_another_time_zone_map_to_the_same_utc_instants(ms, settings):
    start = START + timedelta(days=31, hours=5)
    event_id = ms.add_event(OWNER, subject="Berlin call", start=start, end=start + timedelta(minutes=45))
    session = graph_session(ms, settings)
    window = "startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"
    page = session.get(ms.graph_url + f"me/calendarView/delta?{window}",
                       headers={"Prefer": 'outlook.timezone="Europe/Berlin", IdType="ImmutableId"'}).json()
    served = next(item for item in page["value"] if item["id"] == event_id)
    assert served["start"] == {"dateTime": "2026-11-01T15:00:00.0000000", "timeZone": "Europe/Berlin"}

    event = GraphConnector.to_event(served)
    assert (event.start, event.end) == (start, start + timedelta(minutes=45))


def test_an_unavailable_token_endpoint_is_a_provider_outage_not_a_revocation(ms, settings):
    add_inbox(ms, 1)
    ms.token_faults = FaultPlan()
    ms.token_faults.once("/oauth2/v2.0/token", status=503, retry_after=1)
    with pytest.raises(ProviderUnavailableError, match="token endpoint"):
        list(connect(ms, settings).changes(None))


def test_replayed_items_reach_the_caller_again_for_the_store_to_dedupe(ms, settings):
    inbox = add_inbox(ms, 20)
    ms.graph.replays = True
    ids = mail_ids(connect(ms, settings, page_size=5).changes(None))
    assert set(ids) == set(inbox) and len(ids) > len(inbox)
