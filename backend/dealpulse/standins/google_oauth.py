"""Google OAuth stand-in state: users, refresh tokens, access tokens with expiry, authorization codes."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass


class OAuthError(Exception):
    """An OAuth error response: `{"error": code, "error_description": description}` with an HTTP status."""

    def __init__(self, status: int, code: str, description: str):
        super().__init__(f"{code}: {description}")
        self.status, self.code, self.description = status, code, description


@dataclass(frozen=True)
class AuthorizationCode:
    """A one-time code from the consent redirect."""

    email: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    nonce: str


class GoogleTokens:
    """Which token belongs to which user; thread-safe."""

    def __init__(self, client_id: str, client_secret: str, access_token_lifetime: int = 3600):
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token_lifetime = access_token_lifetime
        self._lock = threading.Lock()
        self._refresh: dict[str, str] = {}  # refresh token -> email
        self._revoked: set[str] = set()
        self._access: dict[str, tuple[str, float]] = {}  # access token -> (email, expires at)
        self._codes: dict[str, AuthorizationCode] = {}

    def new_refresh_token(self, email: str, token: str | None = None) -> str:
        """Register (or mint) a refresh token for `email`."""
        token = token or "1//" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = email
            self._revoked.discard(token)
        return token

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token and the access tokens of its user (as revoking consent does)."""
        with self._lock:
            self._revoked.add(refresh_token)
            email = self._refresh.get(refresh_token)
            self._access = {t: v for t, v in self._access.items() if v[0] != email}

    def issue_access_token(self, email: str, expires_in: int | None = None) -> tuple[str, int]:
        """Mint an access token for `email`; returns (token, lifetime in seconds)."""
        lifetime = self.access_token_lifetime if expires_in is None else expires_in
        token = "ya29." + secrets.token_urlsafe(40)
        with self._lock:
            self._access[token] = (email, time.time() + lifetime)
        return token, lifetime

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far invalid (clients must refresh)."""
        with self._lock:
            self._access.clear()

    def user_for_access_token(self, token: str) -> str | None:
        """The user an unexpired access token belongs to, or None."""
        with self._lock:
            entry = self._access.get(token)
        if entry is None or entry[1] < time.time():
            return None
        return entry[0]

    def check_client(self, client_id: str, client_secret: str) -> None:
        """Refuse unknown clients as Google does (401 invalid_client)."""
        if client_id != self.client_id or not secrets.compare_digest(client_secret, self.client_secret):
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")

    def redeem_refresh_token(self, refresh_token: str) -> str:
        """The user of a live refresh token; invalid_grant for unknown or revoked ones."""
        with self._lock:
            email = self._refresh.get(refresh_token)
            revoked = refresh_token in self._revoked
        if email is None or revoked:
            raise OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
        return email

    def new_code(self, grant: AuthorizationCode) -> str:
        """Mint a one-time authorization code."""
        code = "4/" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = grant
        return code

    def redeem_code(self, code: str, redirect_uri: str, code_verifier: str) -> AuthorizationCode:
        """Use up a code; invalid_grant if unknown, reused, for another redirect URI, or failing PKCE."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None:
            raise OAuthError(400, "invalid_grant", "Malformed auth code.")
        if grant.redirect_uri != redirect_uri:
            raise OAuthError(400, "redirect_uri_mismatch", "Bad Request")
        if grant.code_challenge:
            digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != grant.code_challenge:
                raise OAuthError(400, "invalid_grant", "Invalid code verifier.")
        return grant
