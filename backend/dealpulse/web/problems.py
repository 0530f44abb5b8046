"""Errors as JSON problem bodies (RFC 9457 style) naming what to fix; a 500 is a bug, never an answer to input."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
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
    """One or more fields are invalid; `errors` names each."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: list[dict[str, Any]], detail: str = "Some fields are invalid; nothing was changed."):
        super().__init__(detail, errors=errors)


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
        response = problem_response(ApiProblem(exc.description or exc.name, status=exc.code or 500, title=exc.name))
        for name, value in exc.get_headers():  # Allow on a 405, Retry-After on a 429
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
