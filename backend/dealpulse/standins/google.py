"""Local Google stand-in: Gmail v1, Calendar v3, OAuth token/consent endpoints and signing certificates on 127.0.0.1.

In tests::

    with GoogleStandIn() as google:
        token = google.add_user("rep@acme.test")
        google.add_message("rep@acme.test", raw_bytes, ["INBOX"])
        settings = Settings(**google.settings_overrides())

For the demo: ``python -m dealpulse.standins.google --port 8801 --load corpus.json [--fault-rate 0.2]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlencode

import requests
from flask import Flask, Response, jsonify, redirect, request

from dealpulse.standins.serving import ServerThread
from dealpulse.standins.faults import BATCH_PART_ENVIRON_KEY, FaultMiddleware, FaultPlan
from dealpulse.standins.gmail_server import GmailMailbox, gmail_blueprint
from dealpulse.standins.google_calendar_server import Attendee, GoogleCalendar, calendar_blueprint
from dealpulse.standins.google_errors import error_response, fault_response
from dealpulse.standins.google_identity import GoogleIdentity
from dealpulse.standins.google_oauth import AuthorizationCode, GoogleTokens, OAuthError

DEFAULT_CLIENT_ID = "dealpulse-test.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "dealpulse-test-secret"
PUSH_SERVICE_ACCOUNT = "gmail-api-push@system.gserviceaccount.com"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stand-in answered (batch parts are recorded too, with in_batch=True)."""

    method: str
    path: str
    args: dict[str, list[str]]
    user: str | None
    status: int
    in_batch: bool = False
    batch_parts: int | None = None  # for a batch request: how many calls it carried


@dataclass
class _User:
    email: str
    mailbox: GmailMailbox
    calendar: GoogleCalendar
    refresh_tokens: list[str] = field(default_factory=list)


# Google answers the short OpenID scope names with the full URLs it granted (checked against oauth2.googleapis.com).
_SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


def granted_scope(requested: str) -> str:
    """The `scope` of a token response as Google writes it: aliases expanded, order kept."""
    return " ".join(dict.fromkeys(_SCOPE_ALIASES.get(s, s) for s in requested.split()))


class GoogleStandIn:
    """Gmail, Calendar, OAuth and certificate endpoints of Google, in one threaded server on 127.0.0.1."""

    def __init__(
        self,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token_lifetime: int = 3600,
    ):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the Google stand-in only listens on loopback")
        self.host, self.port = host, port
        self.faults = faults or FaultPlan()
        self.tokens = GoogleTokens(client_id, client_secret, access_token_lifetime)
        self.identity = GoogleIdentity()
        self.auth_user: str | None = None  # who /o/oauth2/v2/auth signs in when no login_hint names a user
        self._users: dict[str, _User] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: ServerThread | None = None
        self.push_endpoint: str | None = None
        self.push_audience: str | None = None
        self.app = self._build_app()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> "GoogleStandIn":
        """Bind (port 0 = a free one) and serve on a background thread; returns self."""
        if self._server is not None:
            return self
        self._server = ServerThread(self.app, self.host, self.port, name="google-standin").start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None

    def __enter__(self) -> "GoogleStandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/ (with the trailing slash googleapiclient's api_endpoint wants)."""
        if self._server is None:
            raise RuntimeError("start() the stand-in first")
        return f"http://{self.host}:{self.port}/"

    @property
    def token_url(self) -> str:
        """OAuth token endpoint."""
        return self.base_url + "token"

    @property
    def auth_url(self) -> str:
        """OAuth consent (authorization) endpoint."""
        return self.base_url + "o/oauth2/v2/auth"

    @property
    def certs_url(self) -> str:
        """PEM certificates, {kid: pem}, as https://www.googleapis.com/oauth2/v1/certs."""
        return self.base_url + "oauth2/v1/certs"

    @property
    def jwks_url(self) -> str:
        """JWKS, as https://www.googleapis.com/oauth2/v3/certs."""
        return self.base_url + "oauth2/v3/certs"

    def settings_overrides(self) -> dict[str, str]:
        """Keyword arguments for `Settings(...)` (or `Settings.from_env(**...)`) pointing at this stand-in."""
        return {
            "gmail_api_url": self.base_url,
            "calendar_api_url": self.base_url,
            "google_token_url": self.token_url,
            "google_auth_url": self.auth_url,
            "google_certs_url": self.certs_url,
            "google_client_id": self.tokens.client_id,
            "google_client_secret": self.tokens.client_secret,
            "google_pubsub_service_account": PUSH_SERVICE_ACCOUNT,
        }

    # -- users and data ------------------------------------------------------------------------------------
    def add_user(self, email: str, refresh_token: str | None = None) -> str:
        """Create a user (mailbox + calendar) if new; register and return a refresh token for it."""
        email = email.lower()
        with self._lock:
            user = self._users.get(email)
            if user is None:
                user = self._users[email] = _User(email, GmailMailbox(email), GoogleCalendar(email))
        token = self.tokens.new_refresh_token(email, refresh_token)
        user.refresh_tokens.append(token)
        return token

    def users(self) -> list[str]:
        """Addresses of every user."""
        with self._lock:
            return list(self._users)

    def refresh_tokens(self, email: str) -> list[str]:
        """Refresh tokens registered for a user (revoked ones included)."""
        return list(self._user(email).refresh_tokens)

    def mailbox(self, email: str) -> GmailMailbox:
        """A user's Gmail mailbox (KeyError if unknown)."""
        return self._user(email).mailbox

    def calendar(self, email: str) -> GoogleCalendar:
        """A user's primary calendar (KeyError if unknown)."""
        return self._user(email).calendar

    def _user(self, email: str) -> _User:
        with self._lock:
            try:
                return self._users[email.lower()]
            except KeyError:
                raise KeyError(f"no stand-in user {email!r}; call add_user first") from None

    def add_message(
        self, email: str, raw: bytes, label_ids: Iterable[str] = ("INBOX",), internal_date: datetime | int | None = None
    ) -> str:
        """Deliver RFC 822 bytes into a user's mailbox; returns the Gmail message id."""
        return self.mailbox(email).add_message(raw, label_ids, internal_date)

    def delete_message(self, email: str, message_id: str) -> None:
        """Delete a message (history records a messageDeleted)."""
        self.mailbox(email).delete_message(message_id)

    def expire_history_before(self, email: str, history_id: int) -> None:
        """Drop history older than `history_id`: history.list from an older id answers 404."""
        self.mailbox(email).expire_history_before(history_id)

    def add_event(self, email: str, **event: Any) -> str:
        """Add an event to a user's calendar (arguments of GoogleCalendar.add_event); returns its id."""
        return self.calendar(email).add_event(**event)

    def revoke_refresh_token(self, token: str) -> None:
        """Revoke a refresh token: refreshing answers 400 invalid_grant, its access tokens stop working."""
        self.tokens.revoke(token)

    def issue_access_token(self, email: str, expires_in: int | None = None) -> str:
        """An access token for `email` without the OAuth dance (for add-on requests in tests)."""
        self._user(email)
        return self.tokens.issue_access_token(email.lower(), expires_in)[0]

    def issue_id_token(self, audience: str, email: str, issuer: str = "https://accounts.google.com",
                       expires_in: int = 3600, kid: str | None = None, **claims: Any) -> str:
        """A Google-signed ID token (add-on system/user tokens, Pub/Sub push JWTs); see GoogleIdentity."""
        return self.identity.issue_id_token(audience, email, issuer, expires_in, kid, **claims)

    def rotate_key(self, keep_previous: bool = True) -> str:
        """Sign with a new key from now on; returns its kid."""
        return self.identity.rotate_key(keep_previous)

    # -- push ----------------------------------------------------------------------------------------------
    def pubsub_push(self, email: str, audience: str, service_account: str = PUSH_SERVICE_ACCOUNT) -> tuple[dict[str, Any], dict[str, str]]:
        """(JSON body, headers) of the Pub/Sub push Gmail would send now for `email`'s mailbox."""
        box = self.mailbox(email)
        data = json.dumps({"emailAddress": box.email, "historyId": box.history_id}).encode()
        message_id = str(uuid.uuid4().int % 10**16)
        published = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        body = {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id, "message_id": message_id,
                "publishTime": published, "publish_time": published,
            },
            "subscription": "projects/dealpulse-demo/subscriptions/gmail-push",
        }
        token = self.issue_id_token(audience, service_account)
        return body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def deliver_push(self, email: str) -> int:
        """POST a Pub/Sub push for `email` to `push_endpoint` (audience `push_audience`); returns the status."""
        if not self.push_endpoint:
            raise RuntimeError("set push_endpoint (and push_audience) first")
        body, headers = self.pubsub_push(email, self.push_audience or self.push_endpoint)
        session = requests.Session()
        session.trust_env = False
        return session.post(self.push_endpoint, json=body, headers=headers, timeout=10).status_code

    # -- request log ---------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request answered so far."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._requests.clear()

    # -- fixtures ------------------------------------------------------------------------------------------
    def load(self, source: str | Path | dict[str, Any]) -> dict[str, int]:
        """Load users, messages and events from a JSON fixture (a path or the parsed dict); returns counts.

        Format: {"users": [{"email", "refresh_token"?}],
                 "messages": [{"user", "raw" (RFC 822 text) | "raw_file" (path relative to the fixture),
                               "labels"?: ["INBOX"], "internal_date"?: ISO-8601 | epoch ms}],
                 "events": [{"user", "summary", "start", "end" (ISO-8601), "attendees"?: [{"email", "name"?,
                             "response"?}], "organizer"?, "organizer_name"?, "description"?, "location"?, "ical_uid"?}]}
        """
        base = Path(".")
        if not isinstance(source, dict):
            base = Path(source).parent
            source = json.loads(Path(source).read_text(encoding="utf-8"))
        counts = {"users": 0, "messages": 0, "events": 0}
        for user in source.get("users", []):
            self.add_user(user["email"], user.get("refresh_token"))
            counts["users"] += 1
        for item in source.get("messages", []):
            raw = (base / item["raw_file"]).read_bytes() if "raw_file" in item else item["raw"].encode("utf-8")
            when = item.get("internal_date")
            self.add_message(item["user"], raw, item.get("labels", ["INBOX"]), _when(when) if when else None)
            counts["messages"] += 1
        for item in source.get("events", []):
            self.add_event(
                item["user"],
                summary=item.get("summary", ""),
                start=_when(item["start"]),
                end=_when(item["end"]),
                attendees=[Attendee(a["email"], a.get("name", ""), a.get("response", "needsAction")) for a in item.get("attendees", [])],
                organizer=item.get("organizer"),
                organizer_name=item.get("organizer_name", ""),
                description=item.get("description", ""),
                location=item.get("location", ""),
                ical_uid=item.get("ical_uid"),
            )
            counts["events"] += 1
        return counts

    # -- HTTP app ------------------------------------------------------------------------------------------
    def _user_for_request(self) -> _User | None:
        cached = request.environ.get("dealpulse.user", "")
        if cached != "":
            return cached
        header = request.headers.get("Authorization", "")
        user = None
        if header.startswith("Bearer "):
            email = self.tokens.user_for_access_token(header[7:].strip())
            with self._lock:
                user = self._users.get(email) if email else None
        request.environ["dealpulse.user"] = user
        return user

    def _build_app(self) -> Flask:
        app = Flask("dealpulse-google-standin")
        app.register_blueprint(gmail_blueprint(lambda: getattr(self._user_for_request(), "mailbox", None)))
        app.register_blueprint(calendar_blueprint(lambda: getattr(self._user_for_request(), "calendar", None)))

        @app.post("/token")
        def token() -> Any:
            try:
                return jsonify(self._token_grant(request.form))
            except OAuthError as exc:
                return jsonify(error=exc.code, error_description=exc.description), exc.status

        @app.get("/o/oauth2/v2/auth")
        def authorize() -> Any:
            return self._consent(request.args)

        @app.get("/oauth2/v1/certs")
        def pem_certs() -> Any:
            return jsonify(self.identity.pem_certs())

        @app.get("/oauth2/v3/certs")
        def jwks() -> Any:
            return jsonify(self.identity.jwks())

        @app.errorhandler(404)
        def not_found(exc: Exception) -> Response:
            return error_response(404, "Not Found", "notFound")

        @app.errorhandler(405)
        def wrong_method(exc: Exception) -> Response:
            return error_response(405, "Method Not Allowed", "httpMethodNotAllowed")

        @app.after_request
        def record(response: Response) -> Response:
            user = self._user_for_request() if request.path.startswith(("/gmail/", "/calendar/")) else None
            entry = RecordedRequest(
                request.method, request.path, request.args.to_dict(flat=False),
                user.email if user else None, response.status_code,
                bool(request.environ.get(BATCH_PART_ENVIRON_KEY)), request.environ.get("dealpulse.batch_parts"),
            )
            with self._lock:
                self._requests.append(entry)
            return response

        app.wsgi_app = FaultMiddleware(app.wsgi_app, lambda: self.faults, fault_response)  # type: ignore[method-assign]
        return app

    def _token_grant(self, form: Any) -> dict[str, Any]:
        self.tokens.check_client(form.get("client_id", ""), form.get("client_secret", ""))
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            email = self.tokens.redeem_refresh_token(form.get("refresh_token", ""))
            access, lifetime = self.tokens.issue_access_token(email)
            scope = form.get("scope") or "https://www.googleapis.com/auth/gmail.readonly"
            return {"access_token": access, "expires_in": lifetime, "scope": granted_scope(scope), "token_type": "Bearer"}
        if grant_type == "authorization_code":
            grant = self.tokens.redeem_code(form.get("code", ""), form.get("redirect_uri", ""), form.get("code_verifier", ""))
            refresh = self.add_user(grant.email)
            access, lifetime = self.tokens.issue_access_token(grant.email)
            claims = {"nonce": grant.nonce} if grant.nonce else {}
            return {
                "access_token": access, "expires_in": lifetime, "refresh_token": refresh, "scope": granted_scope(grant.scope),
                "token_type": "Bearer", "id_token": self.issue_id_token(self.tokens.client_id, grant.email, **claims),
            }
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _consent(self, args: Any) -> Any:
        if args.get("client_id") != self.tokens.client_id:
            return jsonify(error="invalid_client", error_description="The OAuth client was not found."), 401
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("http://", "https://")) or args.get("response_type") != "code":
            return jsonify(error="invalid_request", error_description="redirect_uri and response_type=code are required"), 400
        hint = (args.get("login_hint") or "").lower()
        users = self.users()
        email = hint if hint in users else (self.auth_user or (users[0] if users else None))
        query: dict[str, str] = {"state": args.get("state", "")} if args.get("state") else {}
        if email is None:
            query["error"] = "access_denied"
        else:
            query["code"] = self.tokens.new_code(AuthorizationCode(
                email.lower(), self.tokens.client_id, redirect_uri, args.get("scope", ""),
                args.get("code_challenge", ""), args.get("nonce", ""),
            ))
            query["scope"] = args.get("scope", "")
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(redirect_uri + separator + urlencode(query), code=302)


def _when(value: str | int) -> datetime:
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in in the foreground (for `make demo`); prints one JSON line with its URLs and users."""
    parser = argparse.ArgumentParser(description="Local Google stand-in (Gmail, Calendar, OAuth) for the demo")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--load", type=Path, action="append", default=[], help="JSON fixture to load (repeatable)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail (0-1)")
    parser.add_argument("--seed", type=int, default=0, help="fault plan seed")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    options = parser.parse_args(argv)
    try:
        faults = FaultPlan(options.fault_rate, seed=options.seed)
    except ValueError as exc:
        parser.error(str(exc))
    standin = GoogleStandIn(client_id=options.client_id, client_secret=options.client_secret, faults=faults, port=options.port)
    counts = {"users": 0, "messages": 0, "events": 0}
    for path in options.load:
        try:
            for key, value in standin.load(path).items():
                counts[key] += value
        except (OSError, ValueError, KeyError) as exc:
            parser.error(f"cannot load {path}: {exc!r}")
    standin.start()
    print(json.dumps({"base_url": standin.base_url, **standin.settings_overrides(), "loaded": counts,
                      "users": {u: standin.refresh_tokens(u) for u in standin.users()}}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
