"""Local Microsoft stand-in: Entra ID v2.0 and Graph v1.0 on one threaded TLS server on 127.0.0.1.

In-process::

    with MicrosoftStandIn(users=["rep@contoso.example"]) as ms:
        ms.add_message("rep@contoso.example", from_="Buyer <b@acme.example>", to=["rep@contoso.example"],
                       subject="Pricing", body_text="Can you send the quote?")
        settings = Settings(**ms.settings_overrides()).resolved()

From a shell: `python -m dealpulse.standins.microsoft --port 8443` prints the DEALPULSE_* variables that
point the backend at it and a refresh token per user.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qs

from flask import Response
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request

from dealpulse.standins.serving import ServerThread
from dealpulse.standins.entra import (
    DEFAULT_DELEGATED_SCOPES,
    GRAPH_RESOURCE,
    DirectoryUser,
    EntraDirectory,
    create_entra_app,
)
from dealpulse.standins.faults import Fault, FaultMiddleware, FaultPlan
from dealpulse.standins.graph_server import GraphStore, Subscription, Validation, create_graph_app
from dealpulse.standins.tls import TlsMaterial, tls_material

#: Scopes the connector asks for; a refresh token from `issue_refresh_token` covers them.
GRAPH_SCOPES = tuple(f"{GRAPH_RESOURCE}/{scope}" for scope in DEFAULT_DELEGATED_SCOPES)


def _entra_fault(fault: Fault, environ: dict[str, Any]) -> Response:
    body = {"error": "temporarily_unavailable",
            "error_description": f"AADSTS50196: The server is temporarily unavailable (injected {fault.status}).",
            "error_codes": [50196]}
    response = Response(json.dumps(body), status=fault.status, mimetype="application/json")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = str(int(fault.retry_after + 0.999))
    return response


def _not_found(environ: dict[str, Any], start_response: Any) -> Any:
    return Response("not found", status=404)(environ, start_response)


@dataclass(frozen=True)
class GraphRequest:
    """One Graph request the stand-in received (before faults): method, path under /v1.0 and query arguments."""

    method: str
    path: str
    args: dict[str, list[str]]


class MicrosoftStandIn:
    """Entra ID v2.0 (`/{tenant}/...`) and Graph v1.0 (`/v1.0/...`) over TLS with a throwaway CA."""

    def __init__(
        self,
        *,
        users: Iterable[str] = ("rep@contoso.example",),
        host: str = "127.0.0.1",
        port: int = 0,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        faults: FaultPlan | None = None,
        token_faults: FaultPlan | None = None,
        tls_dir: str | None = None,
        empty_page_every: int = 3,
        access_token_lifetime: int = 3600,
        notification_verify: bool | str = True,
        auto_notify: bool = False,
        replays: bool = False,
    ):
        directory_args: dict[str, Any] = {"access_token_lifetime": access_token_lifetime}
        for name, value in (("tenant_id", tenant_id), ("client_id", client_id), ("client_secret", client_secret)):
            if value is not None:
                directory_args[name] = value
        self.directory = EntraDirectory(**directory_args)
        self.graph = GraphStore(self.directory, faults, empty_page_every, notification_verify)
        self.graph.auto_notify = auto_notify
        self.graph.replays = replays
        self.token_faults = token_faults
        for address in users:
            self.graph.mailbox(address)
        self._host, self._port = host, port
        self._tls_dir = tls_dir
        self._owns_tls_dir = tls_dir is None
        self.tls: TlsMaterial | None = None
        self._server: ServerThread | None = None
        self._requests_lock = threading.Lock()
        self._graph_requests: list[GraphRequest] = []

    @property
    def graph_requests(self) -> list["GraphRequest"]:
        """Every Graph request received so far (method, path, query), in order."""
        with self._requests_lock:
            return list(self._graph_requests)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> "MicrosoftStandIn":
        """Generate (or reuse) TLS material, bind the port and serve in a daemon thread."""
        if self._server is not None:
            return self
        self.tls = tls_material(self._tls_dir)
        entra = FaultMiddleware(create_entra_app(self.directory), lambda: self.token_faults, _entra_fault)
        # Faults are decided on the full path ("/v1.0/me/..."), before the mount point is stripped.
        graph = FaultMiddleware(DispatcherMiddleware(_not_found, {"/v1.0": create_graph_app(self.graph)}),
                                lambda: self.graph.faults, self.graph.render_fault)

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO", "")
            if path == "/v1.0" or path.startswith("/v1.0/"):
                with self._requests_lock:
                    self._graph_requests.append(GraphRequest(environ.get("REQUEST_METHOD", "GET"), path,
                                                             parse_qs(environ.get("QUERY_STRING", ""))))
                return graph(environ, start_response)
            return entra(environ, start_response)
        self._server = ServerThread(app, self._host, self._port, name="microsoft-standin",
                                    ssl_context=self.tls.server_context())
        self.directory.base_url = self.base_url
        self.graph.base_url = self.base_url + "/v1.0"
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and remove a temporary TLS folder."""
        if self._server is None:
            return
        self._server.stop()
        self._server = None
        if self._owns_tls_dir and self.tls is not None:
            shutil.rmtree(self.tls.ca_file.rsplit("/", 1)[0], ignore_errors=True)

    def __enter__(self) -> "MicrosoftStandIn":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- where it is -------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return self._server.port

    @property
    def base_url(self) -> str:
        """`https://127.0.0.1:PORT`."""
        return f"https://{self._host}:{self.port}"

    @property
    def tenant_id(self) -> str:
        """The stand-in tenant's id."""
        return self.directory.tenant_id

    @property
    def client_id(self) -> str:
        """The registered confidential client's id."""
        return self.directory.client_id

    @property
    def client_secret(self) -> str:
        """The registered confidential client's secret."""
        return self.directory.client_secret

    @property
    def authority(self) -> str:
        """msal authority: `https://127.0.0.1:PORT/{tenant id}`."""
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def graph_url(self) -> str:
        """Graph root with a trailing slash: `https://127.0.0.1:PORT/v1.0/`."""
        return f"{self.base_url}/v1.0/"

    @property
    def ca_file(self) -> str:
        """PEM file of the CA that signed the server certificate (after start)."""
        if self.tls is None:
            raise RuntimeError("the stand-in is not started")
        return self.tls.ca_file

    @property
    def issuer(self) -> str:
        """Issuer of the stand-in tenant's v2.0 tokens."""
        return self.directory.issuer_for(self.tenant_id)

    @property
    def jwks_url(self) -> str:
        """JWKS URL of the stand-in tenant."""
        return f"{self.base_url}/{self.tenant_id}/discovery/v2.0/keys"

    def settings_overrides(self) -> dict[str, str]:
        """Keyword arguments for `Settings` that point the backend at this stand-in."""
        return {
            "graph_api_url": self.graph_url,
            "ms_authority": self.authority,
            "ms_client_id": self.client_id,
            "ms_client_secret": self.client_secret,
            "ms_ca_bundle": self.ca_file,
            "ms_jwks_url": self.base_url + "/{tid}/discovery/v2.0/keys",
            "ms_issuer": self.base_url + "/{tid}/v2.0",
        }

    def environment(self) -> dict[str, str]:
        """The same as DEALPULSE_* environment variables."""
        return {"DEALPULSE_" + name.upper(): value for name, value in self.settings_overrides().items()}

    # -- identity -------------------------------------------------------------------------------------
    def add_user(self, address: str, name: str | None = None) -> DirectoryUser:
        """Register a user (and give them an empty mailbox)."""
        user = self.directory.add_user(address, name)
        self.graph.mailbox(address)
        return user

    def issue_refresh_token(self, address: str, scopes: Iterable[str] = DEFAULT_DELEGATED_SCOPES) -> str:
        """A refresh token for `address` consenting to Graph `scopes` (Mail.Read, Calendars.Read, User.Read)."""
        self.graph.mailbox(address)
        return self.directory.issue_refresh_token(address, scopes)

    def revoke_user(self, address: str, access_tokens: bool = True) -> None:
        """Revoke the user's refresh tokens (invalid_grant AADSTS70008) and, by default, their access tokens."""
        self.directory.revoke_user(address, access_tokens)

    def invalidate_access_tokens(self, address: str) -> None:
        """Graph answers 401 to the access tokens issued so far to `address`; refreshing still works."""
        self.directory.invalidate_access_tokens(address)

    def issue_access_token(self, tid: str | None = None, audience: str = GRAPH_RESOURCE, scp: Any = "access_as_user",
                           upn: str | None = None, preferred_username: str | None = None, oid: str | None = None,
                           expires_in: int | None = None, kid: str | None = None, issuer: str | None = None,
                           alg: str = "RS256", **claims: Any) -> str:
        """Mint an access token as the stand-in tenant (see `EntraDirectory.issue_access_token`)."""
        return self.directory.issue_access_token(tid, audience, scp, upn, preferred_username, oid, expires_in,
                                                 kid, issuer, alg, **claims)

    def rotate_key(self, keep_old: bool = False) -> str:
        """New signing key; the old kid leaves the JWKS unless `keep_old`. Returns the new kid."""
        return self.directory.rotate_key(keep_old)

    @property
    def token_requests(self) -> list:
        """Every call to the token endpoint (grant type, client, error)."""
        return list(self.directory.token_requests)

    # -- mail and calendar ---------------------------------------------------------------------------------
    def add_message(self, user: str, fields: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """Store a message (fields of `graph_server.build_message`, `folder=` inbox|sentitems|...); returns its id."""
        return self.graph.add_message(user, fields, **kwargs)

    def delete_message(self, user: str, message_id: str) -> None:
        """Delete a message (delta answers `@removed`)."""
        self.graph.delete_message(user, message_id)

    def move_message(self, user: str, message_id: str, folder: str) -> None:
        """Move a message to another folder."""
        self.graph.move_message(user, message_id, folder)

    def update_message(self, user: str, message_id: str, **changes: Any) -> None:
        """Change Graph properties of a message (an `updated` change)."""
        self.graph.update_message(user, message_id, **changes)

    def message_json(self, user: str, message_id: str) -> dict[str, Any]:
        """The full Graph JSON of a stored message."""
        return self.graph.message_json(user, message_id)

    def add_event(self, user: str, fields: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """Store a calendar event (fields of `graph_server.build_event`); returns its id."""
        return self.graph.add_event(user, fields, **kwargs)

    def update_event(self, user: str, event_id: str, **fields: Any) -> None:
        """Change an event."""
        self.graph.update_event(user, event_id, **fields)

    def cancel_event(self, user: str, event_id: str) -> None:
        """Cancel an event (`isCancelled: true`)."""
        self.graph.cancel_event(user, event_id)

    def delete_event(self, user: str, event_id: str) -> None:
        """Delete an event (delta answers `@removed`)."""
        self.graph.delete_event(user, event_id)

    def expire_delta_tokens(self, style: str = "gone") -> None:
        """Invalidate every delta/skip token: 410 Gone with Location, or 400 syncStateNotFound."""
        self.graph.expire_delta_tokens(style)

    # -- change notifications -------------------------------------------------------------------------
    @property
    def faults(self) -> FaultPlan | None:
        """The FaultPlan applied to every Graph route (None = no faults)."""
        return self.graph.faults

    @faults.setter
    def faults(self, plan: FaultPlan | None) -> None:
        self.graph.faults = plan

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """Live subscriptions by id."""
        return dict(self.graph.subscriptions)

    @property
    def validations(self) -> list[Validation]:
        """Every validation handshake attempted, in order."""
        return list(self.graph.validations)

    def notify(self, subscription_id: str, resource: str | None = None, change_type: str = "created",
               resource_id: str | None = None, client_state: str | None = None) -> int:
        """POST a change notification to the subscriber; returns the receiver's HTTP status."""
        return self.graph.notify(subscription_id, resource, change_type, resource_id, client_state)

    def notify_lifecycle(self, subscription_id: str, lifecycle_event: str = "reauthorizationRequired") -> int:
        """POST a lifecycle notification to the subscription's lifecycleNotificationUrl; returns the status."""
        return self.graph.notify_lifecycle(subscription_id, lifecycle_event)


class NotificationReceiver:
    """A tiny local change-notification endpoint (for tests and demos): echoes validation tokens as text/plain
    (unless `echo=False`) and queues the JSON of every notification in `notifications`."""

    def __init__(self, echo: bool = True, host: str = "127.0.0.1"):
        self.echo = echo
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self._server = ServerThread(self._app, host, 0, name="graph-receiver")
        self.url = f"http://{host}:{self._server.port}/push/graph"

    @Request.application
    def _app(self, request: Request) -> Response:
        token = request.args.get("validationToken")
        if token is not None:
            return Response(token, mimetype="text/plain") if self.echo else Response("refused", status=400)
        self.notifications.put(request.get_json(silent=True) or {})
        return Response(status=202)

    def __enter__(self) -> "NotificationReceiver":
        self._server.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the stand-in until interrupted; print the DEALPULSE_* settings and a refresh token per user."""
    parser = argparse.ArgumentParser(prog="python -m dealpulse.standins.microsoft", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = a free one)")
    parser.add_argument("--user", action="append", default=[], help="mailbox address (repeatable)")
    parser.add_argument("--tls-dir", default=None, help="reuse/cache the CA and certificate here (default: a temp dir)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of Graph requests that fail (0..1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault plan")
    parser.add_argument("--sample-mail", type=int, default=0, help="add this many sample messages per user")
    args = parser.parse_args(argv)
    users = args.user or ["rep@contoso.example"]
    plan = FaultPlan(args.fault_rate, seed=args.seed) if args.fault_rate > 0 else None
    standin = MicrosoftStandIn(users=users, port=args.port, tls_dir=args.tls_dir, faults=plan).start()
    now = datetime.now(timezone.utc)
    for address in users:
        for n in range(args.sample_mail):
            standin.add_message(address, from_=f"Buyer {n} <buyer{n}@customer.example>", to=[address],
                                subject=f"Sample message {n}", body_text=f"Hello, this is sample {n}.",
                                sent_at=now - timedelta(minutes=n))
    print(json.dumps({
        "environment": standin.environment(),
        "refresh_tokens": {address: standin.issue_refresh_token(address) for address in users},
    }, indent=2), flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
