"""What the server-rendered admin, settings and onboarding pages share: who may open them, what every template
gets, form errors shown on the page with a 4xx, and HTML (not JSON) answers for errors.

No inline scripts or styles (the app's CSP); every POST carries the session's CSRF token.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from flask import Blueprint, Response, flash, g, get_flashed_messages, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..domain.access import Principal, can_administer
from ..services import dashboard as dashboard_service
from ..services.errors import ConflictError, InvalidField, NotFoundError, PermissionDenied, StaleVersion
from .signin import csrf_token, require_csrf, signed_in_principal
from .toolkit import app_db

ADMIN_SECTIONS = (  # (endpoint, label) of the admin navigation, in order
    ("admin_pages.overview", "Overview"),
    ("admin_pages.people", "People and teams"),
    ("admin_pages.stages", "Stages"),
    ("admin_pages.thresholds", "Alert thresholds"),
    ("admin_org_pages.privacy", "Privacy"),
    ("admin_org_pages.mailboxes", "Mailboxes"),
    ("admin_models.models_page", "Tone model"),
    ("admin_org_pages.addins", "Add-ins"),
)


def html_error(title: str, message: str, status: int) -> tuple[str, int]:
    """The dashboard's error page with `status`."""
    return render_template("dashboard/error.html", title=title, message=message), status


def page_context() -> dict[str, Any]:
    """What every page template reads: CSRF token, me, the alert badge, sections, date format."""
    principal: Principal | None = g.get("principal")
    badge = 0
    if principal is not None:
        with app_db().uow() as uow:
            badge = dashboard_service.unresolved_count(uow, principal)
    return {"csrf": csrf_token(), "me": principal, "alert_badge": badge, "admin_sections": ADMIN_SECTIONS,
            "fmt_date": fmt_when, "notices": get_flashed_messages()}


def fmt_when(value: Any) -> str:
    """3 Mar 2026 14:05 UTC, or "never"."""
    if value is None:
        return "never"
    return f"{value.day} {value:%b %Y %H:%M} UTC" if hasattr(value, "hour") else f"{value.day} {value:%b %Y}"


def signed_in_pages(bp: Blueprint, *, admin_only: bool) -> None:
    """Every page of `bp` needs a signed-in user (admins only when `admin_only`; others get an HTML 403) and CSRF."""

    @bp.before_request
    def _guard() -> Response | tuple[str, int] | None:
        if request.endpoint == f"{bp.name}.static":
            return None
        principal = signed_in_principal()
        if principal is None:
            return redirect(url_for("signin.signin_page", next=request.full_path.rstrip("?")))
        g.principal = principal
        if admin_only and not can_administer(principal):
            return html_error("Only admins open this page", "Ask an admin of your organisation if something here needs changing.", 403)
        require_csrf()
        return None

    bp.context_processor(page_context)
    html_errors(bp)


def html_errors(bp: Blueprint) -> None:
    """Service errors and HTTP errors raised in `bp` answer with the HTML error page."""

    @bp.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> tuple[str, int]:
        return html_error("Not found", str(exc), 404)

    @bp.errorhandler(PermissionDenied)
    def _denied(exc: PermissionDenied) -> tuple[str, int]:
        return html_error("Not allowed", str(exc), 403)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[str, int]:
        return html_error(exc.name, exc.description or "", exc.code or 500)


def error_lines(errors: list[dict[str, Any]]) -> list[str]:
    """`field: message` lines of InvalidField errors."""
    return [f"{e.get('field', '')}: {e.get('message', '')}".lstrip(": ") for e in errors]


def form_of(show: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A POST view whose bad input shows the page again (`show(errors=..., status=...)`) with 422/409; nothing saved."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return view(*args, **kwargs)
            except InvalidField as exc:
                return show(errors=error_lines(exc.errors), status=422)
            except StaleVersion:
                return show(errors=["Someone else changed this since you loaded the page; nothing was saved. Check it and try again."],
                            status=409)
            except ConflictError as exc:
                return show(errors=[str(exc)], status=409)
        return run

    return wrap


def form_int(name: str, *, required: bool = False) -> int | None:
    """An integer form field (empty or "none" is None); InvalidField naming it otherwise."""
    raw = request.form.get(name, "").strip()
    if raw in ("", "none"):
        if required:
            raise InvalidField([{"field": name, "message": "required"}])
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or int(raw) > 2**31 - 1:
        raise InvalidField([{"field": name, "message": "must be a whole number"}])
    return int(raw)


def done(endpoint: str, message: str, **values: Any) -> Response:
    """After a successful POST: say what happened on the next page and go there (303)."""
    flash(message)
    return redirect(url_for(endpoint, **values), code=303)
