"""My settings (every signed-in user): my mailboxes and their state, my never-log list, private by default.

The forms call `services.self_service`; adding a never-log entry hides mail already captured from it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, render_template, request, url_for

from ..services import self_service
from .page_kit import done, form_of, signed_in_pages
from .toolkit import app_db, app_settings

bp = Blueprint("settings_page", __name__, url_prefix="/settings", template_folder="templates")
signed_in_pages(bp, admin_only=False)

PRIVATE_CHOICES = {"on": True, "off": False, "organisation": None}


def show_settings(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """The settings page."""
    with app_db().uow() as uow:
        data = self_service.my_settings(uow, g.principal)
    base = app_settings().base_url.rstrip("/")
    connect = {"gmail": base + url_for("connect.google_start"), "microsoft": base + url_for("connect.microsoft_start")}
    return render_template("settings/settings.html", data=data, connect=connect, errors=errors or []), status


@bp.get("/")
def settings() -> tuple[str, int]:
    """My settings."""
    return show_settings()


@bp.post("/never-log")
@form_of(show_settings)
def add_never_log() -> Any:
    """Never capture mail with this address or domain; hide what was captured."""
    with app_db().uow() as uow:
        result = self_service.add_never_log(uow, g.principal, request.form.get("pattern", ""))
    return done("settings_page.settings", f"{result['pattern']} is never logged; {result['hidden']} captured item(s) hidden from you.")


@bp.post("/never-log/remove")
@form_of(show_settings)
def remove_never_log() -> Any:
    """Capture mail with this address or domain again from now on."""
    pattern = request.form.get("pattern", "")
    with app_db().uow() as uow:
        self_service.remove_never_log(uow, g.principal, pattern)
    return done("settings_page.settings", f"{pattern.strip().lower()} is captured again from now on.")


@bp.post("/private")
@form_of(show_settings)
def set_private() -> Any:
    """Private by default: on, off, or as the organisation says."""
    choice = request.form.get("private_by_default", "")
    if choice not in PRIVATE_CHOICES:
        return show_settings(errors=["private_by_default: choose on, off or organisation"], status=422)
    with app_db().uow() as uow:
        self_service.set_private_by_default(uow, g.principal, PRIVATE_CHOICES[choice])
    return done("settings_page.settings", "Saved: private by default is " + {"on": "on", "off": "off",
                                                                             "organisation": "as your organisation sets it"}[choice] + ".")
