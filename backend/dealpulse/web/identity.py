"""Verifying the identity tokens the add-ins send: Microsoft (Outlook) access tokens and Google (Gmail) ID tokens.

Microsoft: the Outlook add-in gets an access token for our API by nested app authentication (MSAL.js) or Office
SSO; we check RS256 against the tenant's JWKS, the issuer, the audience (client id or `api://.../client id`),
expiry and the `access_as_user` scope. Before any key fetch the tenant must be one we serve (`DEALPULSE_MS_TENANT_IDS`
or an organisation's `ms_tenant_ids`; any tenant only in demo/test), and key fetches for tenants not yet cached are
rate-limited; the per-tenant key cache is capped and expires, so random tenant ids cannot make the server fetch
or remember unbounded sets of keys. Google: every Workspace add-on request carries a Google-signed ID token of
the add-on's service account (audience = the endpoint URL), and the body carries the user's ID token. Keys are
cached and refetched when an unknown key id appears (rotation); the URLs come from the settings.
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import cachetools
import google.auth.exceptions
import google.auth.jwt
import jwt
import requests
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.orm import Session

from ..config import THROWAWAY_ENVS, Settings
from ..store import ms_tenant_registered
from .auth import VerifiedIdentity
from .problems import Unauthorized

ADDIN_SCOPE = "access_as_user"
CLOCK_SKEW_SECONDS = 60
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
JWKS_LIFESPAN_SECONDS = 3600
JWKS_COOLDOWN_SECONDS = 30
JWKS_CACHED_TENANTS = 256  # key sets kept at once (least recently used dropped first)
JWKS_CACHE_SECONDS = 24 * 3600  # a tenant's client (and its key set) is dropped this long after its first fetch
JWKS_NEW_TENANT_FETCHES_PER_MINUTE = 30


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("dp_")


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    try:
        return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None


def _ssl_context(ca_file: str) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


# -- Microsoft --------------------------------------------------------------------------------------------------
class MicrosoftTokenVerifier:
    """Bearer verifier for Entra v2.0 access tokens of the add-in (a capped, expiring JWKS client per served tenant)."""

    def __init__(self, settings: Settings, scope: str = ADDIN_SCOPE, cooldown: float = JWKS_COOLDOWN_SECONDS,
                 max_tenants: int = JWKS_CACHED_TENANTS, cache_seconds: float = JWKS_CACHE_SECONDS,
                 fetches_per_minute: int = JWKS_NEW_TENANT_FETCHES_PER_MINUTE, clock: Any = time.monotonic):
        self.settings = settings
        self.scope = scope
        self.cooldown = cooldown
        self.configured_tenants = frozenset(t.strip().lower() for t in settings.ms_tenant_ids.split(",") if t.strip())
        self._clients: cachetools.TTLCache = cachetools.TTLCache(max_tenants, cache_seconds, timer=clock)
        self._fetch_limit = RateLimitItemPerMinute(fetches_per_minute)
        self._fetch_limiter = MovingWindowRateLimiter(MemoryStorage())
        self._lock = threading.Lock()

    def cached_tenants(self) -> int:
        """How many tenants' key sets are held now."""
        with self._lock:
            return len(self._clients)

    def tenant_served(self, tid: str, session: Session) -> bool:
        """True if tokens of tenant `tid` may be checked at all (asked before any key fetch)."""
        tid = tid.lower()
        return (self.settings.env in THROWAWAY_ENVS or tid in self.configured_tenants
                or ms_tenant_registered(session, tid))

    def _jwks(self, tid: str) -> jwt.PyJWKClient:
        with self._lock:
            client = self._clients.get(tid)
            if client is None:
                if not self._fetch_limiter.hit(self._fetch_limit, "jwks"):
                    raise Unauthorized("Too many sign-ins from new Microsoft tenants just now; try again in a minute.")
                client = jwt.PyJWKClient(
                    self.settings.ms_jwks_url.format(tid=tid), cache_keys=False, cache_jwk_set=True,
                    lifespan=JWKS_LIFESPAN_SECONDS, timeout=10, ssl_context=_ssl_context(self.settings.ms_ca_bundle),
                    cooldown_duration=self.cooldown,
                )
                self._clients[tid] = client
            return client

    def _audience_ok(self, aud: Any) -> bool:
        client_id = self.settings.ms_client_id
        values = aud if isinstance(aud, list) else [aud]
        return any(
            isinstance(v, str) and (v == client_id or (v.startswith("api://") and v.endswith("/" + client_id)))
            for v in values
        )

    def verify(self, token: str, parsed: tuple[dict[str, Any], dict[str, Any]] | None = None) -> dict[str, Any]:
        """The verified claims of a Microsoft access token, or Unauthorized saying what is wrong."""
        parsed = parsed or _unverified(token)
        if parsed is None:
            raise Unauthorized("The Microsoft token is malformed.")
        header, claims = parsed
        tid = str(claims.get("tid") or "").lower()
        if not TENANT_ID.match(tid):
            raise Unauthorized("The Microsoft token names no valid tenant.")
        if not self.settings.ms_client_id:
            raise Unauthorized("Microsoft sign-in is not configured on this server (DEALPULSE_MS_CLIENT_ID).")
        if header.get("alg") != "RS256":
            raise Unauthorized("The Microsoft token is not signed with RS256.")
        try:
            key = self._jwks(tid).get_signing_key(header.get("kid"))
        except jwt.PyJWKClientConnectionError:
            raise Unauthorized("The tenant's signing keys could not be fetched; try again.") from None
        except jwt.PyJWKClientError:
            raise Unauthorized("The Microsoft token is signed with an unknown key.") from None
        try:
            verified = jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=self.settings.ms_issuer.format(tid=tid),
                options={"verify_aud": False, "require": ["exp", "iss", "aud", "tid"]}, leeway=CLOCK_SKEW_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The Microsoft token has expired; sign in again.") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("The Microsoft token has the wrong issuer.") from None
        except jwt.PyJWTError:
            raise Unauthorized("The Microsoft token's signature or claims are invalid.") from None
        if not self._audience_ok(verified.get("aud")):
            raise Unauthorized("The Microsoft token is for another application (audience).")
        if self.scope not in str(verified.get("scp", "")).split():
            raise Unauthorized(f"The Microsoft token lacks the {self.scope} scope.")
        return verified

    def __call__(self, token: str, session: Session) -> VerifiedIdentity | None:
        """A VerifiedIdentity for Microsoft tokens (those with a `tid` claim); None for other credentials."""
        if not _looks_like_jwt(token):
            return None
        parsed = _unverified(token)
        if parsed is None or "tid" not in parsed[1]:
            return None
        tid = str(parsed[1].get("tid") or "")
        if TENANT_ID.match(tid) and not self.tenant_served(tid, session):
            raise Unauthorized("This Microsoft tenant is not registered with this DealPulse server.")
        claims = self.verify(token, parsed)
        address = claims.get("upn") or claims.get("preferred_username") or claims.get("email")
        if not address or "@" not in str(address):
            raise Unauthorized("The Microsoft token carries no sign-in address.")
        if not claims.get("oid"):
            raise Unauthorized("The Microsoft token carries no user object id (oid).")
        # The user's organisation may accept only its own tenants: checked where the user is loaded.
        return VerifiedIdentity(surface="outlook", email=str(address).lower(), tenant_id=str(claims["tid"]).lower(),
                                ms_object_id=str(claims["oid"]).lower(),
                                any_tenant=self.settings.env in THROWAWAY_ENVS)


# -- Google -----------------------------------------------------------------------------------------------------
class GoogleCerts:
    """Google's ID-token certificates ({kid: PEM}), cached by Cache-Control max-age and refetched on a new kid."""

    def __init__(self, url: str, default_lifespan: float = 3600.0, cooldown: float = JWKS_COOLDOWN_SECONDS):
        self.url = url
        self.default_lifespan = default_lifespan
        self.cooldown = cooldown
        self._certs: dict[str, str] = {}
        self._expires = 0.0
        self._fetched = 0.0
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False  # proxies and REQUESTS_CA_BUNDLE from the environment do not apply

    def _fetch(self) -> None:
        response = self._session.get(self.url, timeout=10)
        response.raise_for_status()
        certs = response.json()
        if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
            raise ValueError("certificate document is not {kid: PEM}")
        lifespan = self.default_lifespan
        match = re.search(r"max-age=(\d+)", response.headers.get("Cache-Control", ""))
        if match:
            lifespan = float(match.group(1))
        now = time.monotonic()
        self._certs, self._expires, self._fetched = certs, now + lifespan, now

    def for_kid(self, kid: str | None) -> dict[str, str]:
        """The certificates, refetched when expired or when `kid` is unknown (at most once per cooldown)."""
        with self._lock:
            now = time.monotonic()
            stale = now >= self._expires
            unknown = kid is not None and kid not in self._certs and now - self._fetched >= self.cooldown
            if stale or unknown:
                try:
                    self._fetch()
                except (requests.RequestException, ValueError):
                    if not self._certs:
                        raise Unauthorized("Google's signing certificates could not be fetched; try again.") from None
            return dict(self._certs)


@dataclass(frozen=True)
class GoogleAddonCaller:
    """Who a verified Workspace add-on request comes from."""

    email: str
    subject: str


class GoogleAddonVerifier:
    """Checks both tokens of a Workspace add-on request: the system ID token and the user's ID token."""

    def __init__(self, settings: Settings, cooldown: float = JWKS_COOLDOWN_SECONDS):
        self.settings = settings
        self.certs = GoogleCerts(settings.google_certs_url, cooldown=cooldown)

    def _decode(self, token: str, audience: str, what: str) -> dict[str, Any]:
        parsed = _unverified(token) if _looks_like_jwt(token) else None
        if parsed is None:
            raise Unauthorized(f"The {what} is malformed.")
        header = parsed[0]
        if header.get("alg") != "RS256":
            raise Unauthorized(f"The {what} is not signed with RS256.")
        certs = self.certs.for_kid(header.get("kid"))
        try:
            claims = google.auth.jwt.decode(token, certs=certs, audience=audience,
                                            clock_skew_in_seconds=CLOCK_SKEW_SECONDS)
        except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            message = str(exc).lower()
            if "expired" in message or "too early" in message:
                raise Unauthorized(f"The {what} has expired.") from None
            if "audience" in message:
                raise Unauthorized(f"The {what} is for another audience.") from None
            raise Unauthorized(f"The {what}'s signature is invalid.") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise Unauthorized(f"The {what} has the wrong issuer.")
        return claims

    def verify(self, authorization: str | None, endpoint_url: str, user_id_token: str | None) -> GoogleAddonCaller:
        """Verify a request to `endpoint_url`; returns the user, or raises Unauthorized."""
        if not self.settings.google_addon_service_account or not self.settings.google_client_id:
            raise Unauthorized("The Gmail add-on is not configured on this server.")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Google's ID token is missing from the Authorization header.")
        system = self._decode(token.strip(), endpoint_url, "add-on system ID token")
        if str(system.get("email", "")).lower() != self.settings.google_addon_service_account.lower():
            raise Unauthorized("The add-on request is not from this add-on's service account.")
        if not user_id_token:
            raise Unauthorized("The user's ID token is missing (authorizationEventObject.userIdToken).")
        user = self._decode(user_id_token, self.settings.google_client_id, "user ID token")
        if not user.get("email") or user.get("email_verified") is False:
            raise Unauthorized("The user's ID token carries no verified address.")
        return GoogleAddonCaller(email=str(user["email"]).lower(), subject=str(user.get("sub", "")))


def google_addon_verifier(app_extensions: dict[str, Any], settings: Settings) -> GoogleAddonVerifier:
    """The app's add-on verifier (one per app, so its certificate cache is shared by requests)."""
    verifier = app_extensions.get("dealpulse.google_addon_verifier")
    if verifier is None:
        verifier = GoogleAddonVerifier(settings)
        app_extensions["dealpulse.google_addon_verifier"] = verifier
    return verifier
