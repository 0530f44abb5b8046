"""Entra ID v2.0 stand-in: OpenID discovery, JWKS, token and authorize endpoints, and a token-minting helper."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request
from markupsafe import escape

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_AUDIENCES = (GRAPH_RESOURCE, "00000003-0000-0000-c000-000000000000")
#: Delegated scopes a refresh token from `issue_refresh_token` carries unless told otherwise.
DEFAULT_DELEGATED_SCOPES = ("Mail.Read", "Calendars.Read", "User.Read")
#: Application permissions granted to the client-credentials flow unless told otherwise.
DEFAULT_APP_ROLES = ("Mail.Read", "Calendars.Read", "User.Read.All")
_OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
_RSA_ALGS = ("RS256", "RS384", "RS512")


class InvalidAccessToken(Exception):
    """A bearer token failed verification; the message says why."""


@dataclass
class DirectoryUser:
    """A user of the stand-in tenant."""

    address: str
    name: str
    oid: str


@dataclass
class _SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def public_jwk(self, issuer: str) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": jwk["n"], "e": jwk["e"], "issuer": issuer}


@dataclass
class _Grant:
    address: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    revoked: bool = False


@dataclass
class _AuthCode:
    address: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    used: bool = False


@dataclass
class TokenRequest:
    """A record of one call to the token endpoint, for tests that count refreshes."""

    grant_type: str
    client_id: str
    error: str | None


@dataclass
class EntraDirectory:
    """One tenant's directory: the confidential client, users, signing keys, grants and issued tokens."""

    tenant_id: str = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    client_id: str = "0f1d2c3b-4a59-4687-9b8a-7c6d5e4f3a21"
    client_secret: str = "stand-in-client-secret"
    access_token_lifetime: int = 3600
    app_roles: tuple[str, ...] = DEFAULT_APP_ROLES
    base_url: str = "https://127.0.0.1"  # set by the server once its port is known
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    token_requests: list[TokenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, _SigningKey] = {}
        self._retired: dict[str, _SigningKey] = {}
        self._current_kid = ""
        self._grants: dict[str, _Grant] = {}
        self._codes: dict[str, _AuthCode] = {}
        self._revoked_jtis: set[str] = set()
        self._jtis_by_user: dict[str, set[str]] = {}
        self.rotate_key(keep_old=False)

    # -- users and keys ------------------------------------------------------------------------------------
    def add_user(self, address: str, name: str | None = None, oid: str | None = None) -> DirectoryUser:
        """Register (or return) a user by address; the first user is who `/authorize` signs in by default."""
        key = address.strip().lower()
        with self._lock:
            if key not in self.users:
                display = name or key.split("@")[0].replace(".", " ").title()
                self.users[key] = DirectoryUser(key, display, oid or str(uuid.uuid5(uuid.NAMESPACE_URL, "oid:" + key)))
            return self.users[key]

    def user(self, address: str) -> DirectoryUser:
        """The registered user with this address (KeyError if unknown)."""
        return self.users[address.strip().lower()]

    def issuer_for(self, tid: str | None = None) -> str:
        """The v2.0 issuer of tokens for tenant `tid` at this stand-in: `https://127.0.0.1:PORT/{tid}/v2.0`."""
        return f"{self.base_url}/{tid or self.tenant_id}/v2.0"

    def rotate_key(self, keep_old: bool = False) -> str:
        """Make a new signing key current; the old kid leaves the JWKS unless `keep_old`. Returns the new kid."""
        key = _SigningKey(secrets.token_urlsafe(16), rsa.generate_private_key(public_exponent=65537, key_size=2048))
        with self._lock:
            if self._current_kid and not keep_old:
                old = self._keys.pop(self._current_kid)
                self._retired[old.kid] = old
            self._keys[key.kid] = key
            self._current_kid = key.kid
        return key.kid

    @property
    def current_kid(self) -> str:
        """Key id that signs new tokens."""
        return self._current_kid

    @property
    def published_kids(self) -> list[str]:
        """Key ids currently in the JWKS."""
        with self._lock:
            return list(self._keys)

    def jwks(self, tid: str | None = None) -> dict[str, Any]:
        """The JSON Web Key Set published at `/{tid}/discovery/v2.0/keys`."""
        with self._lock:
            return {"keys": [k.public_jwk(self.issuer_for(tid)) for k in self._keys.values()]}

    def _signing_key(self, kid: str | None) -> _SigningKey:
        with self._lock:
            kid = kid or self._current_kid
            key = self._keys.get(kid) or self._retired.get(kid)
        if key is None:
            raise KeyError(f"no signing key with kid {kid!r}")
        return key

    # -- minting -------------------------------------------------------------------------------------------
    def issue_access_token(
        self,
        tid: str | None = None,
        audience: str = GRAPH_RESOURCE,
        scp: str | Iterable[str] | None = "access_as_user",
        upn: str | None = None,
        preferred_username: str | None = None,
        oid: str | None = None,
        expires_in: int | None = None,
        kid: str | None = None,
        issuer: str | None = None,
        alg: str = "RS256",
        **claims: Any,
    ) -> str:
        """Sign an access token as this tenant would (RS256 with the current key unless `kid`/`alg` say otherwise).

        `preferred_username` defaults to `upn`; `oid` to the registered user's object id; `issuer` to
        `issuer_for(tid)`; `scp=None` leaves the claim out; extra `claims` are added or override.
        `kid` may name a retired key (signed, but no longer in the JWKS); `alg="none"` gives an unsigned token.
        """
        tid = tid or self.tenant_id
        now = int(time.time())
        lifetime = self.access_token_lifetime if expires_in is None else expires_in
        username = preferred_username or upn
        if oid is None and username and username.lower() in self.users:
            oid = self.users[username.lower()].oid
        payload: dict[str, Any] = {
            "aud": audience,
            "iss": issuer or self.issuer_for(tid),
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + lifetime,
            "tid": tid,
            "ver": "2.0",
            "azp": self.client_id,
            "uti": secrets.token_urlsafe(16),
        }
        if scp is not None:
            payload["scp"] = scp if isinstance(scp, str) else " ".join(scp)
        if username:
            payload["preferred_username"] = username
            payload["upn"] = upn or username
            payload["name"] = self.users[username.lower()].name if username.lower() in self.users else username
        if oid:
            payload["oid"] = oid
            payload["sub"] = hashlib.sha256(f"{oid}:{self.client_id}".encode()).hexdigest()[:43]
        payload.update(claims)
        if username:
            with self._lock:
                self._jtis_by_user.setdefault(username.lower(), set()).add(payload["uti"])
        if alg == "none":
            return jwt.encode(payload, None, algorithm="none")
        if alg not in _RSA_ALGS:
            raise ValueError(f"the stand-in signs with RSA keys only ({', '.join(_RSA_ALGS)} or 'none'), not {alg!r}")
        key = self._signing_key(kid)
        return jwt.encode(payload, key.private_key, algorithm=alg, headers={"kid": key.kid, "typ": "JWT"})

    def issue_refresh_token(
        self, address: str, scopes: Iterable[str] = DEFAULT_DELEGATED_SCOPES, client_id: str | None = None
    ) -> str:
        """A refresh token for `address` (registered on the fly) consenting to Graph `scopes`."""
        user = self.add_user(address)
        return self._new_grant(user.address, client_id or self.client_id, tuple(scopes), GRAPH_RESOURCE)

    def _new_grant(self, address: str, client_id: str, scopes: tuple[str, ...], resource: str) -> str:
        token = "0.AX" + secrets.token_urlsafe(48)
        with self._lock:
            self._grants[token] = _Grant(address, client_id, scopes, resource)
        return token

    def revoke_user(self, address: str, access_tokens: bool = True) -> None:
        """Revoke every refresh token of `address` (and, like continuous access evaluation, its access tokens)."""
        key = address.strip().lower()
        with self._lock:
            for grant in self._grants.values():
                if grant.address == key:
                    grant.revoked = True
            if access_tokens:
                self._revoked_jtis |= self._jtis_by_user.get(key, set())

    def invalidate_access_tokens(self, address: str) -> None:
        """Make Graph reject the access tokens issued so far to `address` (refresh tokens stay valid)."""
        key = address.strip().lower()
        with self._lock:
            self._revoked_jtis |= self._jtis_by_user.get(key, set())

    # -- verification (used by the Graph stand-in) ---------------------------------------------------------
    def verify_access_token(self, token: str, audiences: Iterable[str] = GRAPH_AUDIENCES) -> dict[str, Any]:
        """Claims of a valid token for one of `audiences`, or InvalidAccessToken."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken("IDX14100: JWT is not well formed.") from exc
        with self._lock:
            key = self._keys.get(header.get("kid", ""))
        if key is None:
            raise InvalidAccessToken("IDX10503: Signature validation failed. The token's kid is not in the signing keys.")
        try:
            claims = jwt.decode(
                token, key.private_key.public_key(), algorithms=list(_RSA_ALGS), audience=list(audiences),
                options={"verify_iss": False, "require": ["exp", "aud"]}, leeway=0,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidAccessToken("Lifetime validation failed, the token is expired.") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidAccessToken("Invalid audience.") from exc
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(f"Signature validation failed: {exc}") from exc
        with self._lock:
            if claims.get("uti") in self._revoked_jtis:
                raise InvalidAccessToken("Continuous access evaluation resulted in challenge: the token was revoked.")
        return claims

    # -- token endpoint ------------------------------------------------------------------------------------
    def _graph_access_token(self, grant: _Grant, scopes: tuple[str, ...], tid: str) -> str:
        return self.issue_access_token(tid=tid, audience=grant.resource, scp=scopes, upn=grant.address)

    def _id_token(self, address: str, tid: str, nonce: str | None) -> str:
        user = self.users[address]
        now = int(time.time())
        payload = {
            "aud": self.client_id, "iss": self.issuer_for(tid), "iat": now, "nbf": now, "exp": now + 3600,
            "name": user.name, "oid": user.oid, "preferred_username": user.address, "sub": user.oid,
            "tid": tid, "ver": "2.0",
        }
        if nonce:
            payload["nonce"] = nonce
        key = self._signing_key(None)
        return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def _client_info(self, address: str, tid: str) -> str:
        raw = json.dumps({"uid": self.users[address].oid, "utid": tid}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def token_response(self, tid: str, form: dict[str, str], basic_auth: tuple[str, str] | None) -> tuple[dict, int]:
        """Answer a token request (form fields as posted) with (JSON body, status)."""
        grant_type = form.get("grant_type", "")
        client_id, secret = basic_auth or (form.get("client_id", ""), form.get("client_secret", ""))
        body, status = self._token_response(tid, grant_type, client_id, secret, form)
        with self._lock:
            self.token_requests.append(TokenRequest(grant_type, client_id, body.get("error")))
        return body, status

    def _token_response(self, tid: str, grant_type: str, client_id: str, secret: str, form: dict[str, str]):
        if client_id != self.client_id:
            return _aad_error("unauthorized_client", 700016, f"Application with identifier '{client_id}' was not found in the directory '{tid}'."), 400
        if not secrets.compare_digest(secret or "", self.client_secret):
            return _aad_error("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."), 401
        effective_tid = self.tenant_id if tid in ("organizations", "common") else tid
        requested = form.get("scope", "").split()
        if grant_type == "refresh_token":
            return self._refresh(form.get("refresh_token", ""), requested, effective_tid)
        if grant_type == "authorization_code":
            return self._redeem_code(form, requested, effective_tid)
        if grant_type == "client_credentials":
            return self._client_credentials(requested, effective_tid)
        return _aad_error("unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."), 400

    def _refresh(self, refresh_token: str, requested: list[str], tid: str):
        with self._lock:
            grant = self._grants.get(refresh_token)
        if grant is None:
            return _aad_error("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.", suberror="bad_token"), 400
        if grant.revoked:
            return _aad_error("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.", suberror="bad_token"), 400
        try:
            resource, scopes = _resource_scopes(requested, grant.scopes)
        except ValueError as exc:
            return _aad_error("invalid_scope", 70011, str(exc)), 400
        missing = [s for s in scopes if s not in grant.scopes]
        if resource != grant.resource or missing:
            return _aad_error("invalid_grant", 65001, f"The user or administrator has not consented to use the application with ID '{self.client_id}'. Send an interactive authorization request for this user and resource.", suberror="consent_required"), 400
        # Rotation: a new refresh token comes back; the old one stays valid until revoked, as with Entra.
        new_refresh = self._new_grant(grant.address, grant.client_id, grant.scopes, grant.resource)
        return self._user_tokens(grant, scopes, tid, requested, new_refresh, nonce=None), 200

    def _redeem_code(self, form: dict[str, str], requested: list[str], tid: str):
        code_value = form.get("code", "")
        with self._lock:
            code = self._codes.get(code_value)
            if code is not None and not code.used:
                code.used = True
                fresh = True
            else:
                fresh = False
        if code is None or not fresh or code.expires_at < time.time():
            return _aad_error("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."), 400
        if form.get("redirect_uri", "") != code.redirect_uri:
            return _aad_error("invalid_grant", 50148, "The redirect_uri does not match the one the authorization code was issued to."), 400
        if code.code_challenge:
            verifier = form.get("code_verifier", "")
            if code.code_challenge_method == "S256":
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            else:
                digest = verifier
            if not secrets.compare_digest(digest, code.code_challenge):
                return _aad_error("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request."), 400
        try:
            resource, scopes = _resource_scopes(code.scope.split(), ())
        except ValueError as exc:
            return _aad_error("invalid_scope", 70011, str(exc)), 400
        refresh = self._new_grant(code.address, code.client_id, scopes, resource)
        with self._lock:
            grant = self._grants[refresh]
        return self._user_tokens(grant, scopes, tid, code.scope.split(), refresh, nonce=code.nonce), 200

    def _user_tokens(self, grant: _Grant, scopes, tid: str, requested: list[str], refresh: str, nonce: str | None):
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([*(f"{grant.resource}/{s}" for s in scopes), *sorted(_OIDC_SCOPES & set(requested))]),
            "expires_in": self.access_token_lifetime,
            "ext_expires_in": self.access_token_lifetime,
            "access_token": self._graph_access_token(grant, tuple(scopes), tid),
            "refresh_token": refresh,
            "client_info": self._client_info(grant.address, tid),
        }
        if "openid" in requested:
            body["id_token"] = self._id_token(grant.address, tid, nonce)
        return body

    def _client_credentials(self, requested: list[str], tid: str):
        if len(requested) != 1 or not requested[0].endswith("/.default"):
            return _aad_error("invalid_scope", 1002012, "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."), 400
        resource = requested[0][: -len("/.default")]
        token = self.issue_access_token(
            tid=tid, audience=resource, scp=None, oid=str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + self.client_id)),
            roles=list(self.app_roles), idtyp="app",
        )
        body = {"token_type": "Bearer", "expires_in": self.access_token_lifetime,
                "ext_expires_in": self.access_token_lifetime, "access_token": token}
        return body, 200

    # -- authorize endpoint --------------------------------------------------------------------------------
    def authorize(self, tid: str, args: dict[str, str]) -> tuple[str | None, dict[str, str] | None, dict | None]:
        """(redirect URI, response parameters with a code for the test user, None) or (None, None, error JSON).

        The user is `login_hint` when it names a registered user, else the first registered user.
        """
        if args.get("client_id") != self.client_id:
            return None, None, _aad_error("unauthorized_client", 700016, f"Application with identifier '{args.get('client_id')}' was not found in the directory '{tid}'.")
        redirect_uri = args.get("redirect_uri", "")
        if urlsplit(redirect_uri).scheme not in ("http", "https"):
            return None, None, _aad_error("invalid_request", 90102, "'redirect_uri' value must be a valid absolute URI.")
        if args.get("response_type") != "code":
            return None, None, _aad_error("unsupported_response_type", 70005, "The provided value for the input parameter 'response_type' is not allowed for this request.")
        if not self.users:
            return None, None, _aad_error("invalid_request", 50034, "The user account does not exist in this directory.")
        hint = (args.get("login_hint") or "").lower()
        address = hint if hint in self.users else next(iter(self.users))
        code_value = "1.AX" + secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code_value] = _AuthCode(
                address, self.client_id, redirect_uri, args.get("scope", ""), args.get("nonce"),
                args.get("code_challenge"), args.get("code_challenge_method"), time.time() + 600,
            )
        params = {"code": code_value, "session_state": str(uuid.uuid4())}
        if "state" in args:
            params["state"] = args["state"]
        return redirect_uri, params, None


def _resource_scopes(requested: list[str], default: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """(resource, short scope names) of a scope parameter; one resource per request, as Entra demands."""
    resources: set[str] = set()
    scopes: list[str] = []
    for scope in requested:
        if scope in _OIDC_SCOPES:
            continue
        if "/" in scope:
            resource, _, name = scope.rpartition("/")
        else:
            resource, name = GRAPH_RESOURCE, scope
        resources.add(resource.rstrip("/"))
        if name == ".default":
            scopes.extend(default)
        else:
            scopes.append(name)
    if len(resources) > 1:
        raise ValueError("AADSTS28000: Provided value for the input parameter scope is not valid because it contains more than one resource.")
    resource = resources.pop() if resources else GRAPH_RESOURCE
    return resource, tuple(dict.fromkeys(scopes or default))


def _aad_error(error: str, code: int, description: str, suberror: str | None = None) -> dict[str, Any]:
    """An Entra v2.0 error body: AADSTS code and trace ids, as the real token endpoint answers."""
    now = datetime.now(timezone.utc)
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    body: dict[str, Any] = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {now:%Y-%m-%d %H:%M:%SZ}"
        ),
        "error_codes": [code],
        "timestamp": f"{now:%Y-%m-%d %H:%M:%SZ}",
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return body


def create_entra_app(directory: EntraDirectory) -> Flask:
    """The Flask app serving `/{tenant}/v2.0/.well-known/openid-configuration`, keys, token and authorize."""
    app = Flask("dealpulse.standins.entra")

    def known(tenant: str) -> bool:
        return tenant in (directory.tenant_id, "organizations", "common")

    def unknown_tenant(tenant: str) -> Response:
        body = _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
        return Response(json.dumps(body), status=400, mimetype="application/json")

    @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
    def openid_configuration(tenant: str):
        if not known(tenant):
            return unknown_tenant(tenant)
        base = f"{directory.base_url}/{tenant}"
        issuer_tid = directory.tenant_id if tenant == directory.tenant_id else "{tenantid}"
        return jsonify({
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": directory.issuer_for(issuer_tid),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{GRAPH_RESOURCE}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })

    @app.get("/<tenant>/discovery/v2.0/keys")
    def keys(tenant: str):
        if not known(tenant):
            return unknown_tenant(tenant)
        return jsonify(directory.jwks(tenant if tenant == directory.tenant_id else None))

    @app.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str):
        if not known(tenant):
            return unknown_tenant(tenant)
        auth = request.authorization
        basic = (auth.username or "", auth.password or "") if auth and auth.type == "basic" else None
        body, status = directory.token_response(tenant, request.form.to_dict(), basic)
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        response.headers["Cache-Control"] = "no-store, no-cache"
        return response

    @app.get("/<tenant>/oauth2/v2.0/authorize")
    def authorize(tenant: str):
        if not known(tenant):
            return unknown_tenant(tenant)
        redirect_uri, params, error = directory.authorize(tenant, request.args.to_dict())
        if error is not None:
            return Response(json.dumps(error), status=400, mimetype="application/json")
        mode = request.args.get("response_mode", "query")
        if mode == "form_post":  # what Entra does: a page that posts the answer to the redirect URI
            fields = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}"/>' for k, v in params.items())
            page = (f'<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" '
                    f'action="{escape(redirect_uri)}">{fields}<noscript><p>Script is disabled. Click Submit to '
                    f'continue.</p><input type="submit" value="Submit"/></noscript></form>'
                    f'<script>document.forms[0].submit()</script></body></html>')
            return Response(page, mimetype="text/html")
        separator = "#" if mode == "fragment" else ("&" if "?" in redirect_uri else "?")
        return redirect(redirect_uri + separator + urlencode(params), code=302)

    return app
