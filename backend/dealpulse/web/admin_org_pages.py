"""Admin pages for the organisation's data: privacy rules, every mailbox's state, and the add-ins to deploy.

The privacy form calls `services.privacy_settings`; the mailbox page `services.mailboxes` (the same states in
words as `dealpulse mailbox status`); the add-in downloads are rendered for this server's base URL by the same
code as `dealpulse manifest` and `dealpulse gmail-deployment`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, render_template, request, url_for
from sqlalchemy import select

from ..services import mailboxes as mailbox_service
from ..services import privacy_settings as privacy_service
from ..services.admin_common import require_admin
from ..store import User
from .gmail_deployment import render_deployment
from .outlook import ManifestError, render_manifest
from .page_kit import done, form_int, form_of, html_error, signed_in_pages
from .toolkit import app_db, app_settings

bp = Blueprint("admin_org_pages", __name__, url_prefix="/admin", template_folder="templates")
signed_in_pages(bp, admin_only=True)

CONNECT_ENDPOINTS = {"gmail": "connect.google_start", "microsoft": "connect.microsoft_start"}


# ---------------------------------------------------------------- privacy


def show_privacy(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """The organisation's privacy rules."""
    with app_db().uow() as uow:
        rules = privacy_service.get_privacy(uow, g.principal)
    return render_template("admin/privacy.html", rules=rules, errors=errors or [],
                           retention_range=privacy_service.RETENTION_DAYS_RANGE), status


@bp.get("/privacy")
def privacy() -> tuple[str, int]:
    """Privacy rules."""
    return show_privacy()


@bp.post("/privacy")
@form_of(show_privacy)
def save_privacy() -> Any:
    """Save free-mail exclusion, private by default and the retention period."""
    changes = {"exclude_free_mail": request.form.get("exclude_free_mail") == "on",
               "private_by_default": request.form.get("private_by_default") == "on",
               "retention_days": request.form.get("retention_days", "")}
    with app_db().uow() as uow:
        privacy_service.update_privacy(uow, g.principal, form_int("version", required=True) or 0, changes)
    return done("admin_org_pages.privacy", "Privacy rules saved.")


# ---------------------------------------------------------------- mailboxes


def show_mailboxes(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """Every user's mailboxes with their state in words, and who has none connected."""
    principal = g.principal
    require_admin(principal, "see every mailbox")
    with app_db().uow() as uow:
        boxes = [m.as_dict() | {"last_synced": m.last_synced_at} for m in mailbox_service.mailbox_status(uow, org_id=principal.org_id)]
        users = uow.s.execute(select(User.email, User.name).where(User.org_id == principal.org_id, User.is_active.is_(True))
                              .order_by(User.name)).all()
    connected = {b["user_email"] for b in boxes if b["state"] != "disconnected"}
    base = app_settings().base_url.rstrip("/")
    for box in boxes:
        box["reconnect_link"] = base + url_for(CONNECT_ENDPOINTS[box["provider"]])
    without = [{"email": e, "name": n} for e, n in users if e not in connected]
    links = {p: base + url_for(endpoint) for p, endpoint in CONNECT_ENDPOINTS.items()}
    return render_template("admin/mailboxes.html", boxes=boxes, without=without, links=links, errors=errors or []), status


@bp.get("/mailboxes")
def mailboxes() -> tuple[str, int]:
    """Mailboxes."""
    return show_mailboxes()


@bp.post("/mailboxes/<int:mailbox_id>/disconnect")
@form_of(show_mailboxes)
def disconnect(mailbox_id: int) -> Any:
    """Stop capturing a mailbox and forget its credentials (optionally delete what only it captured)."""
    require_admin(g.principal, "disconnect mailboxes")
    purge = request.form.get("purge") == "on"
    with app_db().uow() as uow:
        counts = mailbox_service.disconnect(uow, mailbox_id, purge=purge, org_id=g.principal.org_id)
    extra = f"; {counts['activities_deleted']} captured item(s) deleted" if purge else ""
    return done("admin_org_pages.mailboxes", f"Mailbox {mailbox_id} disconnected{extra}.")


# ---------------------------------------------------------------- add-ins


@bp.get("/addins")
def addins() -> str:
    """Download the add-in descriptors for this server and the install steps for each admin centre."""
    settings = app_settings()
    try:
        render_manifest(settings.base_url, settings.ms_client_id)
        problem = ""
    except ManifestError as exc:
        problem = str(exc)
    return render_template("admin/addins.html", base_url=settings.base_url, problem=problem,
                           ms_client_id=settings.ms_client_id, google_client_id=settings.google_client_id)


def _download(body: str, filename: str, mimetype: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/addins/manifest.xml")
def manifest_download() -> Response | tuple[str, int]:
    """The Outlook add-in manifest for this server (upload it in the Microsoft 365 admin centre)."""
    settings = app_settings()
    try:
        return _download(render_manifest(settings.base_url, settings.ms_client_id), "manifest.xml", "application/xml")
    except ManifestError as exc:
        return html_error("No manifest for this server", str(exc), 409)


@bp.get("/addins/deployment.json")
def deployment_download() -> Response | tuple[str, int]:
    """The Gmail add-on deployment descriptor for this server (for the Google Workspace Marketplace SDK)."""
    try:
        return _download(render_deployment(app_settings().base_url), "deployment.json", "application/json")
    except ManifestError as exc:
        return html_error("No deployment descriptor for this server", str(exc), 409)
