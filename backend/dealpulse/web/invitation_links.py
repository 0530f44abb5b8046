"""Inviting someone from a page or the API: one use case (create the invitation, build its link, e-mail it)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from ..domain.access import Principal
from ..services import invitations as invite_service
from ..store import Organisation
from .toolkit import app_db, app_settings

SENDER = "dealpulse@localhost"


def invite_person(principal: Principal, email: str, name: str, role: str, team_id: int | None) -> tuple[dict[str, Any], str, bool]:
    """Create an invitation and e-mail its link when SMTP is configured; (invitation, link, emailed)."""
    settings = app_settings()
    with app_db().uow() as uow:
        view, token = invite_service.create_invitation(uow, principal, settings.secret_key, email, name, role, team_id)
        org_name = uow.s.get(Organisation, principal.org_id).name
    link = settings.base_url.rstrip("/") + url_for("onboarding.invitation_page", token=token)
    message = invite_service.invitation_message(SENDER, view["email"], org_name, principal.email, link,
                                                invite_service.INVITATION_DAYS)
    return view, link, invite_service.send_invitation(settings.smtp_url, message)


def invitation_json(view: dict[str, Any]) -> dict[str, Any]:
    """An invitation for the API (timestamps in ISO 8601)."""
    return {**view, "created_at": view["created_at"].isoformat(), "expires_at": view["expires_at"].isoformat()}
