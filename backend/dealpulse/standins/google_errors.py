"""Google API error bodies: `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}`."""

from __future__ import annotations

from typing import Any

from flask import Response, json

from dealpulse.standins.faults import Fault

CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

_FAULT_MESSAGES = {
    429: ("Too many concurrent requests for user.", "usageLimits"),
    403: ("User-rate limit exceeded.", "usageLimits"),
    500: ("Backend Error", "global"),
    503: ("The service is currently unavailable.", "global"),
}


def error_body(code: int, message: str, reason: str, domain: str = "global", **detail: Any) -> dict[str, Any]:
    """Google's JSON error body; `status` is left out for codes without a canonical name (such as 410)."""
    error: dict[str, Any] = {"code": code, "message": message, "errors": [{"message": message, "domain": domain, "reason": reason, **detail}]}
    if code in CANONICAL_STATUS:
        error["status"] = CANONICAL_STATUS[code]
    return {"error": error}


def error_response(
    code: int, message: str, reason: str, domain: str = "global", retry_after: float | None = None, **detail: Any
) -> Response:
    """A Flask response carrying Google's error JSON (and Retry-After when given)."""
    response = Response(json.dumps(error_body(code, message, reason, domain, **detail)), status=code, mimetype="application/json")
    if retry_after is not None:
        response.headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    return response


def fault_response(fault: Fault, environ: dict[str, Any] | None = None) -> Response:
    """The error response a FaultPlan status fault produces in Google's shape."""
    message, domain = _FAULT_MESSAGES.get(fault.status, ("Injected failure.", "global"))
    if fault.status == 404:
        message = "Requested entity was not found."
    reason = fault.reason or {404: "notFound", 410: "fullSyncRequired", 401: "authError"}.get(fault.status, "backendError")
    if fault.status == 410:
        message, domain = "Sync token is no longer valid, a full sync is required.", "calendar"
    return error_response(fault.status, message, reason, domain, retry_after=fault.retry_after)
