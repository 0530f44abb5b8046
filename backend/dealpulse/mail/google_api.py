"""Executing Google API requests: our own retries (honouring Retry-After) and provider errors mapped to SyncErrors.

google-api-python-client's `num_retries` ignores Retry-After, so every `execute()` goes through `GoogleApiCaller`.
"""

from __future__ import annotations

import http.client
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import google.auth.exceptions
import httplib2
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import BatchError, HttpError

from dealpulse.mail.google_auth import authorized_http, ensure_fresh, refresh_error_to_sync_error
from dealpulse.mail.retry import RetryableError, RetryPolicy, call_with_retries, parse_retry_after
from dealpulse.mail.types import AuthRevokedError, ProviderUnavailableError, SyncError, ThrottledError

T = TypeVar("T")

RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Network failures worth another try: dropped connections, resets, timeouts (OSError covers the socket ones).
TRANSPORT_ERRORS = (httplib2.HttpLib2Error, http.client.HTTPException, OSError, google.auth.exceptions.TransportError)


@dataclass(frozen=True)
class GoogleError:
    """What a Google error response says: HTTP status, first reason, message and Retry-After seconds."""

    status: int
    reason: str
    message: str
    retry_after: float | None

    @classmethod
    def from_response(cls, status: int, headers: Any, content: bytes | str | None) -> "GoogleError":
        """Read Google's error JSON (tolerating bodies that are not JSON)."""
        reason, message = "", ""
        try:
            error = json.loads(content or b"{}").get("error", {})
            if isinstance(error, dict):
                message = str(error.get("message", ""))
                errors = error.get("errors") or [{}]
                reason = str(errors[0].get("reason", "")) if isinstance(errors[0], dict) else ""
            elif isinstance(error, str):  # OAuth-style {"error": "invalid_grant"}
                reason = error
        except (ValueError, AttributeError):
            message = (content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or ""))[:200]
        retry_after = parse_retry_after(headers.get("retry-after")) if headers is not None else None
        return cls(status, reason, message, retry_after)

    @classmethod
    def from_http_error(cls, exc: HttpError) -> "GoogleError":
        """From googleapiclient's HttpError."""
        return cls.from_response(exc.resp.status, exc.resp, exc.content)

    @property
    def retryable(self) -> bool:
        """429, 5xx, and Gmail's 403 rate-limit reasons are worth retrying."""
        return self.status in RETRYABLE_STATUSES or (self.status == 403 and self.reason in RATE_LIMIT_REASONS)

    @property
    def rate_limited(self) -> bool:
        """The provider asked us to slow down (as opposed to failing)."""
        return self.status == 429 or (self.status == 403 and self.reason in RATE_LIMIT_REASONS)


class NotFoundError(SyncError):
    """A 404 the caller decides about (stale history id, a message deleted meanwhile)."""


class GoneError(SyncError):
    """A 410 (Calendar's fullSyncRequired): the caller's sync token is no longer valid."""


def classify(error: GoogleError) -> Exception:
    """The exception a failed call becomes: RetryableError to try again, or a SyncError to stop with."""
    if error.retryable:
        return RetryableError(f"Google answered {error.status} {error.reason}: {error.message}", error.retry_after, error.status)
    if error.status == 401:
        return AuthRevokedError(f"Google refused our access token (401 {error.reason}): the rep must reconnect")
    if error.status == 404:
        return NotFoundError(f"not found: {error.message}")
    if error.status == 410:
        return GoneError(f"gone ({error.reason}): {error.message}")
    return SyncError(f"Google answered {error.status} {error.reason}: {error.message}")


def exhausted(exc: RetryableError) -> SyncError:
    """The SyncError for a call whose retries ran out (or whose Retry-After is too long to sleep through)."""
    if exc.status == 429 or exc.status == 403:
        return ThrottledError(f"throttled by Google: {exc}", retry_after=exc.retry_after)
    return ProviderUnavailableError(f"Google kept failing: {exc}")


class GoogleApiCaller:
    """Runs googleapiclient requests with credentials refreshed first and retries per a RetryPolicy."""

    def __init__(
        self,
        credentials: Credentials,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.credentials = credentials
        self.policy = policy
        self.sleep = sleep
        self.rng = rng or random.Random()

    def guarded(self, action: Callable[[], T]) -> T:
        """One attempt of `action` with failures turned into RetryableError or a SyncError."""
        try:
            ensure_fresh(self.credentials)
            return action()
        except BatchError as exc:  # a garbled multipart answer: the whole batch is worth another try
            raise RetryableError(f"unreadable batch response from Google: {exc}") from exc
        except HttpError as exc:
            raise classify(GoogleError.from_http_error(exc)) from exc
        except google.auth.exceptions.RefreshError as exc:
            raise refresh_error_to_sync_error(exc) from exc
        except TRANSPORT_ERRORS as exc:
            raise RetryableError(f"network error talking to Google: {exc!r}") from exc

    def call(self, action: Callable[[], T]) -> T:
        """`action` with retries; raises a SyncError subclass (NotFoundError for 404) when it cannot succeed."""
        try:
            return call_with_retries(lambda: self.guarded(action), self.policy, self.sleep, self.rng)
        except RetryableError as exc:
            raise exhausted(exc) from exc

    def execute(self, request: Any) -> Any:
        """`request.execute()` with retries (requests are re-executable)."""
        return self.call(request.execute)


def build_service(name: str, version: str, credentials: Credentials, endpoint: str, timeout: float) -> Resource:
    """A client from the discovery document packaged with google-api-python-client (no network discovery)."""
    return build(
        name, version,
        http=authorized_http(credentials, timeout),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": endpoint},
    )
