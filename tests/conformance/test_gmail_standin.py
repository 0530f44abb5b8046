"""The Google stand-in answers in the shapes of the discovery documents shipped with google-api-python-client.

Discovery `schemas` are converted to JSON Schema with additionalProperties=false, so any key the real API
does not have fails validation. Error bodies, which discovery does not describe, follow a schema written
from https://cloud.google.com/apis/design/errors (the `errors[]` list is Google's legacy v1 detail).
"""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, urlsplit

import googleapiclient
import jwt
import pytest
import requests
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import id_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.gmail_server import GmailMailbox
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.google_calendar_server import Attendee
from dealpulse.standins.sample_mail import rfc822

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
OWNER = "rep@acme.example"

_PATTERNS = {
    "int64": r"^-?[0-9]+$",
    "uint64": r"^[0-9]+$",
    "byte": r"^[A-Za-z0-9_\-+/]*=*$",
    "date-time": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
    "google-datetime": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$",
    "date": r"^\d{4}-\d\d-\d\d$",
}


def to_json_schema(node: dict[str, Any]) -> dict[str, Any]:
    """One discovery schema node as JSON Schema (objects closed unless discovery declares a map)."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "object":
        out: dict[str, Any] = {"type": "object", "properties": {k: to_json_schema(v) for k, v in node.get("properties", {}).items()}}
        out["additionalProperties"] = to_json_schema(node["additionalProperties"]) if "additionalProperties" in node else False
        return out
    if kind == "array":
        return {"type": "array", "items": to_json_schema(node["items"])}
    if kind == "string":
        out = {"type": "string"}
        if node.get("format") in _PATTERNS:
            out["pattern"] = _PATTERNS[node["format"]]
        if "enum" in node:
            out["enum"] = node["enum"]
        return out
    if kind == "integer":
        return {"type": "integer", **({"minimum": 0} if node.get("format") == "uint32" else {})}
    if kind in ("number", "boolean"):
        return {"type": kind}
    if kind == "any":
        return {}
    raise ValueError(f"unhandled discovery node {node!r}")


class Discovery:
    """A discovery document with validators for its methods' responses."""

    def __init__(self, filename: str):
        self.doc = json.loads((DOCUMENTS / filename).read_text())
        self.defs = {name: to_json_schema(schema) for name, schema in self.doc["schemas"].items()}

    def method(self, method_id: str) -> dict[str, Any]:
        def walk(resources: dict[str, Any]) -> Iterable[dict[str, Any]]:
            for resource in resources.values():
                yield from resource.get("methods", {}).values()
                yield from walk(resource.get("resources", {}))

        return next(m for m in walk(self.doc["resources"]) if m["id"] == method_id)

    def validator(self, method_id: str) -> Draft202012Validator:
        schema_name = self.method(method_id)["response"]["$ref"]
        return Draft202012Validator({"$defs": self.defs, "$ref": f"#/$defs/{schema_name}"})

    def check(self, method_id: str, body: Any) -> None:
        errors = sorted(self.validator(method_id).iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method_id}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


GMAIL = Discovery("gmail.v1.json")
CALENDAR = Discovery("calendar.v3.json")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "errors"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "message": {"type": "string", "minLength": 1},
                "status": {"enum": ["INVALID_ARGUMENT", "FAILED_PRECONDITION", "UNAUTHENTICATED", "PERMISSION_DENIED",
                                    "NOT_FOUND", "ABORTED", "RESOURCE_EXHAUSTED", "INTERNAL", "UNAVAILABLE"]},
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["message", "domain", "reason"],
                        "additionalProperties": False,
                        "properties": {
                            "message": {"type": "string"},
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                            "location": {"type": "string"},
                            "locationType": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


@pytest.fixture(scope="module")
def google() -> Iterable[GoogleStandIn]:
    with GoogleStandIn() as standin:
        standin.add_user(OWNER)
        yield standin


@pytest.fixture(scope="module")
def http(google: GoogleStandIn) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = "Bearer " + google.issue_access_token(OWNER)
    return session


@pytest.fixture(scope="module")
def message_id(google: GoogleStandIn) -> str:
    raw = rfc822(
        sender="Bea Buyer <buyer@customer.example>", to=[OWNER], cc=["cfo@customer.example"],
        subject="Contract =?utf-8?q?r=C3=A9vision?=", body="Looks good — see the redline.\n",
        html="<p>Looks good &mdash; see the <b>redline</b>.</p>", message_id="c1@customer.example",
        attachments=[("redline.pdf", "application/pdf", b"%PDF-1.7 fake")],
    )
    return google.add_message(OWNER, raw, ["INBOX", "UNREAD", "Label_7"])


def gmail_url(google: GoogleStandIn, path: str) -> str:
    return f"{google.base_url}gmail/v1/users/me/{path}"


def test_converter_closes_objects_so_unknown_keys_fail():
    with pytest.raises(AssertionError, match="Additional properties"):
        GMAIL.check("gmail.users.getProfile", {"emailAddress": OWNER, "historyId": "1", "surprise": True})
    with pytest.raises(AssertionError, match="is not of type 'string'"):
        GMAIL.check("gmail.users.getProfile", {"emailAddress": OWNER, "historyId": 12})
    with pytest.raises(AssertionError, match="does not match"):
        GMAIL.check("gmail.users.getProfile", {"emailAddress": OWNER, "historyId": "twelve"})


def test_profile(google, http, message_id):
    body = http.get(gmail_url(google, "profile"), params={"alt": "json"}).json()
    GMAIL.check("gmail.users.getProfile", body)
    assert body["emailAddress"] == OWNER and body["messagesTotal"] >= 1


def test_messages_list_pages(google, http, message_id):
    for i in range(3):
        google.add_message(OWNER, rfc822(sender="a@customer.example", to=[OWNER], subject=f"p{i}", body="x\n",
                                         message_id=f"page{i}@customer.example"))
    first = http.get(gmail_url(google, "messages"), params={"maxResults": 2}).json()
    GMAIL.check("gmail.users.messages.list", first)
    assert len(first["messages"]) == 2 and first["nextPageToken"]
    rest = http.get(gmail_url(google, "messages"), params={"maxResults": 500, "pageToken": first["nextPageToken"]}).json()
    GMAIL.check("gmail.users.messages.list", rest)
    ids = [m["id"] for m in first["messages"] + rest["messages"]]
    assert len(ids) == len(set(ids)) == first["resultSizeEstimate"]


@pytest.mark.parametrize("fmt", ["full", "metadata", "minimal", "raw"])
def test_messages_get_formats(google, http, message_id, fmt):
    body = http.get(gmail_url(google, f"messages/{message_id}"), params={"format": fmt}).json()
    GMAIL.check("gmail.users.messages.get", body)
    assert body["id"] == message_id and "Label_7" in body["labelIds"]
    if fmt == "raw":
        raw = base64.urlsafe_b64decode(body["raw"] + "=" * (-len(body["raw"]) % 4))
        assert b"Message-ID: <c1@customer.example>" in raw
    if fmt == "full":
        payload = body["payload"]
        assert payload["partId"] == "" and payload["mimeType"] == "multipart/mixed"
        text = payload["parts"][0]["parts"][0]
        assert text["partId"] == "0.0" and text["mimeType"] == "text/plain"
        data = base64.urlsafe_b64decode(text["body"]["data"] + "==")
        assert data.decode() == "Looks good — see the redline.\n" and text["body"]["size"] == len(data)
        attachment = payload["parts"][1]
        assert attachment["filename"] == "redline.pdf" and "data" not in attachment["body"]
        fetched = http.get(gmail_url(google, f"messages/{message_id}/attachments/{attachment['body']['attachmentId']}")).json()
        GMAIL.check("gmail.users.messages.attachments.get", fetched)
        assert base64.urlsafe_b64decode(fetched["data"] + "==") == b"%PDF-1.7 fake"
    if fmt == "metadata":
        assert {"name": "Subject", "value": "Contract =?utf-8?q?r=C3=A9vision?="} in body["payload"]["headers"]
    if fmt == "minimal":
        assert "payload" not in body and "raw" not in body


def test_history_list_with_every_record_kind(google, http, message_id):
    start = google.mailbox(OWNER).history_id
    added = google.add_message(OWNER, rfc822(sender="a@customer.example", to=[OWNER], subject="h", body="x\n",
                                             message_id="h1@customer.example"))
    google.mailbox(OWNER).modify_labels(added, add=["STARRED"], remove=["INBOX"])
    google.delete_message(OWNER, added)
    body = http.get(gmail_url(google, "history"), params={"startHistoryId": start}).json()
    GMAIL.check("gmail.users.history.list", body)
    kinds = [key for record in body["history"] for key in record if key not in ("id", "messages")]
    assert kinds == ["messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"]
    only_added = http.get(gmail_url(google, "history"), params={"startHistoryId": start, "historyTypes": "messageAdded"}).json()
    assert [list(r) for r in only_added["history"]] == [["id", "messages", "messagesAdded"]]


def test_labels_list(google, http, message_id):
    body = http.get(gmail_url(google, "labels")).json()
    GMAIL.check("gmail.users.labels.list", body)
    assert {"SENT", "INBOX", "CATEGORY_PROMOTIONS", "Label_7"} <= {label["id"] for label in body["labels"]}


def test_watch_and_stop(google, http):
    request = {"topicName": "projects/p/topics/gmail", "labelIds": ["INBOX"], "labelFilterBehavior": "include"}
    body = http.post(gmail_url(google, "watch"), json=request).json()
    GMAIL.check("gmail.users.watch", body)
    assert http.post(gmail_url(google, "stop")).status_code == 204


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"topicName": "projects/p/topics/gmail", "labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE"}, "allowed values"),
        ({"topicName": "projects/p/topics/gmail", "labelFilter": "include"}, "Unknown name"),
        ({"topicName": "projects/p/topics/gmail", "labelIds": "INBOX"}, "expected array"),
    ],
    ids=["enum-casing", "unknown-field", "wrong-type"],
)
def test_watch_requests_are_checked_against_the_discovery_document(google, http, body, problem):
    response = http.post(gmail_url(google, "watch"), json=body)
    check_error(response, 400, "invalidArgument")
    assert problem in response.json()["error"]["message"]
    assert google.mailbox(OWNER).watch is None


def test_calendar_events_list_full_and_incremental(google, http):
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC)
    calendar = google.calendar(OWNER)
    event = calendar.add_event("Kickoff", start, start + timedelta(hours=1),
                               attendees=[Attendee("buyer@customer.example", "Bea", "tentative"), Attendee(OWNER)],
                               organizer="buyer@customer.example", organizer_name="Bea", location="Zoom")
    url = f"{google.base_url}calendar/v3/calendars/primary/events"
    full = http.get(url, params={"singleEvents": "true", "timeMin": (start - timedelta(days=90)).isoformat()}).json()
    CALENDAR.check("calendar.events.list", full)
    item = next(i for i in full["items"] if i["id"] == event)
    assert item["organizer"] == {"email": "buyer@customer.example", "displayName": "Bea"}
    assert {"email": OWNER, "responseStatus": "needsAction", "self": True} in item["attendees"]
    calendar.cancel_event(event)
    changed = http.get(url, params={"singleEvents": "true", "syncToken": full["nextSyncToken"]}).json()
    CALENDAR.check("calendar.events.list", changed)
    assert changed["items"] == [{"kind": "calendar#event", "etag": changed["items"][0]["etag"], "id": event, "status": "cancelled"}]


def check_error(response: requests.Response, status: int, reason: str) -> None:
    assert response.status_code == status
    body = response.json()
    errors = list(Draft202012Validator(ERROR_SCHEMA).iter_errors(body))
    assert not errors, errors[0].message
    assert body["error"]["code"] == status and body["error"]["errors"][0]["reason"] == reason


def test_error_bodies(google, http):
    google.expire_history_before(OWNER, google.mailbox(OWNER).history_id)
    check_error(http.get(gmail_url(google, "history"), params={"startHistoryId": 1}), 404, "notFound")
    check_error(http.get(gmail_url(google, "messages/ffffffffffffffff")), 404, "notFound")
    check_error(http.get(gmail_url(google, "profile"), headers={"Authorization": "Bearer expired"}), 401, "authError")
    check_error(http.get(gmail_url(google, "messages"), params={"pageToken": "!!"}), 400, "invalidArgument")
    calendar_url = f"{google.base_url}calendar/v3/calendars/primary/events"
    google.calendar(OWNER).expire_sync_tokens()
    gone = http.get(calendar_url, params={"syncToken": "c3luYzox"})
    check_error(gone, 410, "fullSyncRequired")
    assert "status" not in gone.json()["error"]


def test_fault_responses_have_googles_shape_and_retry_after(google, http):
    google.faults.once("/profile", status=429, retry_after=5)
    google.faults.once("/profile", status=403)
    throttled = http.get(gmail_url(google, "profile"))
    check_error(throttled, 429, "rateLimitExceeded")
    assert throttled.headers["Retry-After"] == "5"
    check_error(http.get(gmail_url(google, "profile")), 403, "userRateLimitExceeded")
    assert http.get(gmail_url(google, "profile")).status_code == 200


def test_dropped_connection_gets_no_answer(google, http):
    google.faults.once("/profile", kind="drop")
    with pytest.raises(requests.ConnectionError):
        http.get(gmail_url(google, "profile"), timeout=10)


def batch_body(paths: list[str], token: str) -> tuple[str, str]:
    boundary = "===============7330845974216740156=="
    parts = [
        f"--{boundary}\nContent-Type: application/http\nContent-Transfer-Encoding: binary\nContent-ID: <b29c5de2-0db4 + {i}>\n\n"
        f"GET {path} HTTP/1.1\nContent-Type: application/json\nMIME-Version: 1.0\nauthorization: Bearer {token}\n\n\n"
        for i, path in enumerate(paths, 1)
    ]
    return "".join(parts) + f"--{boundary}--", f'multipart/mixed; boundary="{boundary}"'


def test_batch_answers_each_part_with_its_response_content_id(google, http, message_id):
    token = http.headers["Authorization"][7:]
    body, content_type = batch_body(
        [f"/gmail/v1/users/me/messages/{message_id}?format=minimal&alt=json", "/gmail/v1/users/me/messages/0000?alt=json"],
        token,
    )
    answer = requests.post(google.base_url + "batch/gmail/v1", data=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert "Content-ID: <response-b29c5de2-0db4 + 1>" in answer.text
    assert "Content-ID: <response-b29c5de2-0db4 + 2>" in answer.text
    assert "HTTP/1.1 200 OK" in answer.text and "HTTP/1.1 404 NOT FOUND" in answer.text


def test_batch_over_one_hundred_parts_is_refused(google, http, message_id):
    body, content_type = batch_body([f"/gmail/v1/users/me/messages/{message_id}?alt=json"] * 101, "x")
    check_error(http.post(google.base_url + "batch/gmail/v1", data=body, headers={"Content-Type": content_type}),
                400, "invalidArgument")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_batch_endpoint_never_crashes_on_arbitrary_bodies(google, http, data):
    answer = http.post(google.base_url + "batch/gmail/v1", data=data,
                       headers={"Content-Type": 'multipart/mixed; boundary="b"'})
    assert answer.status_code in (200, 400)


@settings(max_examples=80, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_delivered_are_served_in_every_format(raw):
    mailbox = GmailMailbox(OWNER)
    message_id = mailbox.add_message(raw)
    for fmt in ("full", "metadata", "minimal", "raw"):
        GMAIL.check("gmail.users.messages.get", mailbox.get_message(message_id, fmt, []))


def test_id_tokens_verify_with_google_auth_against_the_published_certs(google):
    session = requests.Session()
    session.trust_env = False
    request = GoogleAuthRequest(session)
    audience = "https://dealpulse.example/addon"
    token = google.issue_id_token(audience, "addon@system.gserviceaccount.com")
    claims = id_token.verify_token(token, request, audience=audience, certs_url=google.certs_url)
    assert claims["email"] == "addon@system.gserviceaccount.com" and claims["iss"] == "https://accounts.google.com"

    google.rotate_key()
    assert id_token.verify_token(token, request, audience=audience, certs_url=google.certs_url)["aud"] == audience
    forged = google.issue_id_token(audience, "addon@system.gserviceaccount.com", kid="not-published")
    with pytest.raises((ValueError, GoogleAuthError)):
        id_token.verify_token(forged, request, audience=audience, certs_url=google.certs_url)
    with pytest.raises(ValueError):
        id_token.verify_token(token, request, audience="https://elsewhere.example", certs_url=google.certs_url)

    jwks = session.get(google.jwks_url).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    assert jwt.decode(token, key.key, algorithms=["RS256"], audience=audience)["sub"]


def test_authorization_code_flow_with_pkce(google):
    session = requests.Session()
    session.trust_env = False
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(__import__("hashlib").sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1:9/oauth/google/callback"
    consent = session.get(google.auth_url, allow_redirects=False, params={
        "client_id": google.tokens.client_id, "redirect_uri": redirect_uri, "response_type": "code",
        "scope": "openid email https://www.googleapis.com/auth/gmail.readonly", "state": "s1",
        "access_type": "offline", "login_hint": OWNER, "code_challenge": challenge, "code_challenge_method": "S256",
    })
    assert consent.status_code == 302
    query = parse_qs(urlsplit(consent.headers["Location"]).query)
    assert query["state"] == ["s1"]
    form = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
            "client_id": google.tokens.client_id, "client_secret": google.tokens.client_secret, "code_verifier": verifier}
    tokens = session.post(google.token_url, data=form).json()
    assert tokens["refresh_token"] and tokens["access_token"].startswith("ya29.")
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["email"] == OWNER
    assert session.post(google.token_url, data=form).json()["error"] == "invalid_grant"  # codes are single-use
    refreshed = session.post(google.token_url, data={**form, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    google.revoke_refresh_token(tokens["refresh_token"])
    revoked = session.post(google.token_url, data={**form, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_fault_plan_is_deterministic_and_thread_safe():
    def decisions(plan: FaultPlan) -> list[Any]:
        return [plan.decide("GET", "/gmail/v1/users/me/messages") for _ in range(200)]

    assert decisions(FaultPlan(0.3, seed=11)) == decisions(FaultPlan(0.3, seed=11))
    assert decisions(FaultPlan(0.3, seed=11)) != decisions(FaultPlan(0.3, seed=12))

    plan = FaultPlan(0.5, kinds=("429", "drop"), seed=1, paths=("/batch",))
    assert plan.decide("GET", "/gmail/v1/users/me/profile") is None  # outside the path filter
    threads = [threading.Thread(target=lambda: [plan.decide("POST", "/batch/gmail/v1") for _ in range(500)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 800 < plan.count() < 1200 and plan.count("429") + plan.count("drop") == plan.count()
    with pytest.raises(ValueError):
        FaultPlan(1.5)
    with pytest.raises(ValueError):
        FaultPlan(0.1, kinds=("418",))


def test_pubsub_push_carries_a_verifiable_jwt_and_the_mailbox_history_id(google, message_id):
    audience = "http://127.0.0.1:5000/push/gmail"
    body, headers = google.pubsub_push(OWNER, audience)
    session = requests.Session()
    session.trust_env = False
    claims = id_token.verify_token(headers["Authorization"][7:], GoogleAuthRequest(session), audience=audience,
                                   certs_url=google.certs_url)
    assert claims["email"] == "gmail-api-push@system.gserviceaccount.com" and claims["email_verified"]
    data = json.loads(base64.b64decode(body["message"]["data"]))
    assert data == {"emailAddress": OWNER, "historyId": google.mailbox(OWNER).history_id}


def test_command_line_serves_a_loaded_fixture(tmp_path):
    import subprocess
    import sys

    (tmp_path / "m1.eml").write_bytes(rfc822(sender="buyer@customer.example", to=[OWNER], subject="Hello", body="Hi\n",
                                             message_id="cli1@customer.example"))
    fixture = {
        "users": [{"email": OWNER, "refresh_token": "1//demo-token"}],
        "messages": [{"user": OWNER, "raw_file": "m1.eml", "labels": ["INBOX"], "internal_date": "2026-09-01T09:00:00Z"}],
        "events": [{"user": OWNER, "summary": "Kickoff", "start": "2026-09-02T15:00:00Z", "end": "2026-09-02T16:00:00Z",
                    "attendees": [{"email": "buyer@customer.example", "name": "Bea", "response": "accepted"}]}],
    }
    (tmp_path / "corpus.json").write_text(json.dumps(fixture))
    process = subprocess.Popen([sys.executable, "-m", "dealpulse.standins.google", "--port", "0", "--load",
                                str(tmp_path / "corpus.json")], stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(process.stdout.readline())
        assert ready["loaded"] == {"users": 1, "messages": 1, "events": 1}
        session = requests.Session()
        session.trust_env = False
        token = session.post(ready["google_token_url"], data={
            "grant_type": "refresh_token", "refresh_token": "1//demo-token",
            "client_id": ready["google_client_id"], "client_secret": ready["google_client_secret"]}).json()["access_token"]
        profile = session.get(ready["gmail_api_url"] + "gmail/v1/users/me/profile",
                              headers={"Authorization": f"Bearer {token}"}).json()
        assert profile["messagesTotal"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
