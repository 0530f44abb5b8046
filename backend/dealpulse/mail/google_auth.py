"""Google OAuth credentials for a connected mailbox, refreshed against the configured token URL."""

from __future__ import annotations

from typing import Iterable

import google.auth.exceptions
import google.auth.transport.requests
import google_auth_httplib2
import httplib2
import requests
from google.oauth2.credentials import Credentials

from dealpulse.config import Settings
from dealpulse.mail.types import AuthRevokedError, ProviderUnavailableError, SyncError

GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
CALENDAR_READONLY = "https://www.googleapis.com/auth/calendar.events.readonly"
# Google grants "email" as this URL; asking for the alias makes every refresh warn that "email" is missing.
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
#: Narrow scopes a mailbox connection asks for: read mail, read calendar events, know who signed in.
SYNC_SCOPES = (GMAIL_READONLY, CALENDAR_READONLY, "openid", USERINFO_EMAIL)

_REVOKED_ERRORS = ("invalid_grant", "unauthorized_client")


def google_credentials(settings: Settings, refresh_token: str, scopes: Iterable[str] = SYNC_SCOPES) -> Credentials:
    """Credentials holding only a refresh token; the first request refreshes them at `settings.google_token_url`."""
    if not refresh_token:
        raise AuthRevokedError("no refresh token stored for this mailbox: connect it again")
    return Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=settings.google_token_url,
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        scopes=list(scopes),
    )


def token_session() -> requests.Session:
    """A requests session that ignores proxy and CA-bundle environment variables (endpoints are configuration)."""
    session = requests.Session()
    session.trust_env = False
    return session


def refresh_error_to_sync_error(exc: google.auth.exceptions.GoogleAuthError) -> SyncError:
    """Map a failed refresh: revoked/expired consent -> AuthRevokedError, anything else -> ProviderUnavailableError."""
    data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    code = str(data.get("error", ""))
    text = str(exc.args[0]) if exc.args else ""
    if code in _REVOKED_ERRORS or any(text.startswith(name) for name in _REVOKED_ERRORS):
        return AuthRevokedError(f"Google refused the refresh token ({code or text}): the rep must reconnect")
    if code == "invalid_client":
        return SyncError("Google does not know this OAuth client: check DEALPULSE_GOOGLE_CLIENT_ID/SECRET")
    return ProviderUnavailableError(f"could not refresh the Google access token: {text}")


def ensure_fresh(credentials: Credentials, session: requests.Session | None = None) -> None:
    """Refresh expired (or never used) credentials through google-auth's requests transport."""
    if credentials.valid:
        return
    try:
        credentials.refresh(google.auth.transport.requests.Request(session or token_session()))
    except google.auth.exceptions.RefreshError as exc:
        raise refresh_error_to_sync_error(exc) from exc


def authorized_http(credentials: Credentials, timeout: float = 30.0) -> google_auth_httplib2.AuthorizedHttp:
    """An httplib2 client that adds the bearer token, with a timeout and no proxy taken from the environment."""
    return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout, proxy_info=None))
