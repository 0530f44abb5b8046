"""Errors as JSON problem bodies (RFC 9457 style) naming what to fix; a 500 is a bug, never an answer to input.

Pages for people (dashboard, admin, sign-in) answer their HTTP errors as an HTML page instead.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException


class ApiProblem(Exception):
    """An error answered as `{"title", "status", "detail", ...extra}`."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, status: int | None = None, title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body of this problem."""
        return {"title": self.title, "status": self.status, "detail": self.detail, **self.extra}


class NotFound(ApiProblem):
    """The object does not exist or belongs to someone the caller may not see (same answer)."""

    status = 404
    title = "Not found"


class Forbidden(ApiProblem):
    """The caller is known but may not do this."""

    status = 403
    title = "Forbidden"


class Unauthorized(ApiProblem):
    """No valid credential."""

    status = 401
    title = "Unauthorized"


class Conflict(ApiProblem):
    """The write was based on a stale version; nothing changed."""

    status = 409
    title = "Conflict"


class PreconditionFailed(ApiProblem):
    """If-Match did not match the current version; nothing changed."""

    status = 412
    title = "Precondition failed"


class InvalidInput(ApiProblem):
    """One or more fields are invalid; `errors` names each: {"field", "message", "type"} ("invalid" unless named)."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: list[dict[str, Any]], detail: str = "Some fields are invalid; nothing was changed."):
        super().__init__(detail, errors=[{"type": "invalid", **error} for error in errors])


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as [{"field": "a.b", "message": ..., "type": ...}]."""
    out = []
    for err in exc.errors(include_url=False, include_context=False):
        field = ".".join(str(p) for p in err["loc"]) or "(body)"
        out.append({"field": field, "message": err["msg"], "type": err["type"]})
    return out


def problem_response(problem: ApiProblem) -> Response:
    """A Flask response for `problem`."""
    response = jsonify(problem.body())
    response.status_code = problem.status
    response.mimetype = "application/problem+json"
    if problem.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="dealpulse"'
    return response


HTML_PAGE_PREFIXES = ("/dashboard/", "/admin/", "/signin")  # pages for people, not the JSON API
PAGE_MESSAGES = {  # the errors a person meets on a page; others (a 429 with Retry-After) stay problems
    401: "Sign in to DealPulse to see this page.",
    403: "This page is not open to your account. Ask your DealPulse admin if you need it.",
    404: "There is no such page, or it is not yours to see.",
    405: "This page cannot be opened that way; go back and use its links and buttons.",
}


def html_error_page(exc: HTTPException) -> Response:
    """An error on a page for people (dashboard, admin, sign-in) as an HTML page, never raw JSON."""
    code = exc.code or 500
    message = PAGE_MESSAGES.get(code, exc.description or exc.name)
    response = make_response(render_template("dashboard/error.html", title=exc.name, message=message), code)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error as a JSON problem (HTML pages keep their own handlers)."""

    @app.errorhandler(ApiProblem)
    def _problem(exc: ApiProblem) -> Response:
        return problem_response(exc)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Response:
        return problem_response(InvalidInput(validation_errors(exc)))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        if request.path.startswith(HTML_PAGE_PREFIXES) and exc.code in PAGE_MESSAGES:
            return html_error_page(exc)
        response = problem_response(ApiProblem(exc.description or exc.name, status=exc.code or 500, title=exc.name))
        for name, value in exc.get_headers():  # Allow on a 405, Retry-After on a 429
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
