"""Pages for people who are not signed in yet: an invitation link, and the one-time setup of a new server.

`/invite/<token>` checks the invitation and remembers it in this browser's session; signing in with Google or
Microsoft under the invited address then creates the user (see `signin._finish`). `/setup?token=...` is the link
`dealpulse serve` prints on an empty database: it creates the organisation and its first admin, then shows what is
left; once an organisation exists it opens nothing.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for

from ..services import first_run
from ..services.errors import ConflictError, InvalidField
from ..services.invitations import InvitationError, open_invitation
from .page_kit import error_lines, html_errors
from .signin import INVITATION_SESSION_KEY, csrf_token, require_csrf
from .toolkit import app_db, app_settings

bp = Blueprint("onboarding", __name__, template_folder="templates")
html_errors(bp)

SETUP_SESSION_KEY = "setup_token"
MAX_TOKEN_CHARS = 400
LIST_SPLIT = re.compile(r"[\s,;]+")


@bp.before_request
def _csrf() -> None:
    require_csrf()


@bp.context_processor
def _context() -> dict[str, object]:
    return {"csrf": csrf_token(), "me": None, "alert_badge": 0, "notices": []}


def _providers() -> dict[str, bool]:
    settings = app_settings()
    return {"google": bool(settings.google_client_id), "microsoft": bool(settings.ms_client_id)}


@bp.get("/invite/<token>")
def invitation_page(token: str) -> tuple[str, int]:
    """Who invited me to what, and the sign-in buttons that accept it."""
    if len(token) > MAX_TOKEN_CHARS:
        abort(404)
    with app_db().uow() as uow:
        try:
            invitation = open_invitation(uow, app_settings().secret_key, token)
        except InvitationError as exc:
            session.pop(INVITATION_SESSION_KEY, None)
            return render_template("onboarding/invitation.html", problem=str(exc), invitation=None, **_providers()), 410
    session[INVITATION_SESSION_KEY] = token
    return render_template("onboarding/invitation.html", problem="", invitation=invitation, **_providers()), 200


def _setup_page(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("onboarding/setup.html", errors=errors or [], form=request.form), status


@bp.route("/setup", methods=["GET", "POST"])
def setup_page() -> Response | tuple[str, int]:
    """Create the organisation and its first admin with the link `dealpulse serve` printed."""
    settings = app_settings()
    with app_db().uow() as uow:
        if not first_run.needs_setup(uow):
            return render_template("dashboard/error.html", title="DealPulse is already set up",
                                   message="Sign in with your Google or Microsoft account."), 404
    if request.method == "GET" and request.args.get("token"):
        token = request.args["token"][:MAX_TOKEN_CHARS]
        if not first_run.setup_token_valid(settings.var_dir, token):
            return render_template("dashboard/error.html", title="This setup link is not valid",
                                   message="Use the link `dealpulse serve` printed last (restarting it prints a new one)."), 403
        session[SETUP_SESSION_KEY] = token
        return redirect(url_for("onboarding.setup_page"))  # the token leaves the address bar and the history
    if not first_run.setup_token_valid(settings.var_dir, session.get(SETUP_SESSION_KEY)):
        return render_template("dashboard/error.html", title="Open the setup link",
                               message="Open the link `dealpulse serve` printed when it started on the empty database."), 403
    if request.method == "GET":
        return _setup_page()
    domains = [d for d in LIST_SPLIT.split(request.form.get("domains", "")) if d]
    try:
        with app_db().uow() as uow:
            org_id = first_run.complete_setup(uow, settings.var_dir, request.form.get("name", ""), domains,
                                              request.form.get("admin_email", ""), request.form.get("admin_name", ""))
            steps = first_run.checklist(uow, settings, org_id)
    except InvalidField as exc:
        return _setup_page(error_lines(exc.errors), 422)
    except ConflictError as exc:
        return _setup_page([str(exc)], 409)
    session.pop(SETUP_SESSION_KEY, None)
    return render_template("onboarding/setup_done.html", steps=steps, admin_email=request.form.get("admin_email", "").strip().lower(),
                           **_providers()), 201
