"""msal confidential client for Microsoft mailboxes: build the app, redeem refresh tokens, map revocation."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterable

import msal
import msal.exceptions
import requests

from dealpulse.config import ConfigError, Settings
from dealpulse.mail.types import AuthRevokedError, ProviderUnavailableError, SyncError

GRAPH = "https://graph.microsoft.com"
#: Delegated Graph scopes a mailbox connection asks for (msal adds openid, profile and offline_access).
GRAPH_SCOPES = (f"{GRAPH}/Mail.Read", f"{GRAPH}/Calendars.Read", f"{GRAPH}/User.Read")
#: Entra errors that mean the rep's consent or sign-in is gone: reconnecting is the only cure.
_REVOKED_ERRORS = ("invalid_grant", "interaction_required", "consent_required", "login_required")
_UNAVAILABLE_ERRORS = ("temporarily_unavailable", "server_error")
#: Refresh this long before the access token expires.
_EXPIRY_MARGIN = 300.0


def microsoft_session(settings: Settings) -> requests.Session:
    """A requests session for Entra and Graph: environment ignored, verified against `ms_ca_bundle` when set.

    `trust_env=False` matters: REQUESTS_CA_BUNDLE in the environment would otherwise override `verify`.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.ms_ca_bundle or True
    return session


def build_msal_app(settings: Settings, http_client: requests.Session | None = None) -> msal.ConfidentialClientApplication:
    """The confidential client for `settings.ms_authority` (no instance discovery, so local authorities work)."""
    if not settings.ms_client_id or not settings.ms_client_secret:
        raise ConfigError("DEALPULSE_MS_CLIENT_ID and DEALPULSE_MS_CLIENT_SECRET are required to sync Microsoft mailboxes")
    if not settings.ms_authority.startswith("https://"):
        raise ConfigError(f"DEALPULSE_MS_AUTHORITY must be an https URL (msal requires it), got {settings.ms_authority!r}")
    try:
        return msal.ConfidentialClientApplication(
            settings.ms_client_id,
            client_credential=settings.ms_client_secret,
            authority=settings.ms_authority,
            instance_discovery=False,
            http_client=http_client or microsoft_session(settings),
        )
    except requests.RequestException as exc:
        raise ProviderUnavailableError(f"could not reach the Microsoft authority {settings.ms_authority}: {exc}") from exc
    except (ValueError, msal.exceptions.MsalServiceError) as exc:  # the OpenID configuration is missing or failing
        raise ProviderUnavailableError(f"the Microsoft authority {settings.ms_authority} did not answer: {exc}") from exc


def acquire_access_token(
    app: msal.ConfidentialClientApplication, refresh_token: str, scopes: Iterable[str] = GRAPH_SCOPES
) -> tuple[str, str]:
    """Redeem a refresh token: (access token, refresh token to store from now on).

    Entra rotates refresh tokens; when it returns none the old one stays valid. Revoked or expired consent
    raises AuthRevokedError; an unreachable or failing authority ProviderUnavailableError.
    """
    access_token, new_refresh_token, _ = _redeem(app, refresh_token, scopes)
    return access_token, new_refresh_token


def _redeem(
    app: msal.ConfidentialClientApplication, refresh_token: str, scopes: Iterable[str]
) -> tuple[str, str, float]:
    if not refresh_token:
        raise AuthRevokedError("no refresh token stored for this mailbox: connect it again")
    try:
        result = app.acquire_token_by_refresh_token(refresh_token, scopes=list(scopes))
    except requests.RequestException as exc:
        raise ProviderUnavailableError(f"could not reach the Microsoft token endpoint: {exc}") from exc
    except msal.exceptions.MsalServiceError as exc:  # msal raises for 5xx answers instead of returning them
        raise ProviderUnavailableError(f"the Microsoft token endpoint failed: {exc}") from exc
    if "access_token" in result:
        return result["access_token"], result.get("refresh_token") or refresh_token, float(result.get("expires_in", 3600))
    error = str(result.get("error", ""))
    description = str(result.get("error_description", "")).split(" Trace ID:")[0]
    if error in _REVOKED_ERRORS:
        raise AuthRevokedError(f"Microsoft refused the refresh token ({error}: {description}): the rep must reconnect")
    if error in _UNAVAILABLE_ERRORS:
        raise ProviderUnavailableError(f"the Microsoft token endpoint is unavailable ({error}: {description})")
    if error in ("invalid_client", "unauthorized_client"):
        raise SyncError(f"Entra rejected this application ({error}): check DEALPULSE_MS_CLIENT_ID/SECRET")
    raise SyncError(f"could not get a Microsoft access token ({error}: {description})")


class MsalTokenProvider:
    """Access tokens for one mailbox: cached until shortly before expiry, refreshed on demand.

    Call it as `provider()` or `provider(force_refresh=True)` (after a 401). Each rotated refresh token is
    handed to `on_refresh_token` so the caller can store it (encrypted) before it is needed again.
    """

    def __init__(
        self,
        app: msal.ConfidentialClientApplication,
        refresh_token: str,
        scopes: Iterable[str] = GRAPH_SCOPES,
        on_refresh_token: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.refresh_token = refresh_token
        self.scopes = tuple(scopes)
        self.on_refresh_token = on_refresh_token
        self.clock = clock
        self._access_token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __call__(self, force_refresh: bool = False) -> str:
        """A valid access token (a fresh one when `force_refresh`)."""
        with self._lock:
            if force_refresh or self._access_token is None or self.clock() >= self._expires_at:
                token, new_refresh, expires_in = _redeem(self.app, self.refresh_token, self.scopes)
                self._access_token = token
                self._expires_at = self.clock() + max(0.0, expires_in - _EXPIRY_MARGIN)
                if new_refresh != self.refresh_token:
                    self.refresh_token = new_refresh
                    if self.on_refresh_token is not None:
                        self.on_refresh_token(new_refresh)
            return self._access_token
