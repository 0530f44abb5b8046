"""Admin pages for people and the pipeline: overview with what is left, people and teams with invitations,
stages and exit questions, and alert thresholds per team.

Each form calls the same service as the admin API (`services.people`, `teams`, `organisations`, `invitations`,
`stages`); bad input shows the page again with what to fix and a 4xx, and changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, g, render_template, request
from pydantic import ValidationError

from ..domain.threshold_settings import THRESHOLD_SPECS
from ..services import first_run
from ..services import invitations as invite_service
from ..services import organisations as org_service
from ..services import people as people_service
from ..services import stages as stage_service
from ..services import teams as team_service
from ..services.errors import InvalidField
from ..store import Organisation
from ..store.orgs import ROLES
from .invitation_links import invite_person
from .page_kit import done, form_int, form_of, signed_in_pages
from .schemas import StageIn
from .toolkit import app_db, app_settings

bp = Blueprint("admin_pages", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static/admin", static_url_path="/static")
signed_in_pages(bp, admin_only=True)

LIST_SPLIT = re.compile(r"[\s,;]+")
STAGE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _words(name: str) -> list[str]:
    return [w for w in LIST_SPLIT.split(request.form.get(name, "")) if w]


# ---------------------------------------------------------------- overview


@bp.get("/")
def overview() -> str:
    """What is left to set up, and where each admin page is."""
    with app_db().uow() as uow:
        steps = first_run.checklist(uow, app_settings(), g.principal.org_id)
        org_name = uow.s.get(Organisation, g.principal.org_id).name
    return render_template("admin/overview.html", steps=steps, org_name=org_name)


# ---------------------------------------------------------------- people and teams


def show_people(errors: list[str] | None = None, status: int = 200, invite_link: str = "") -> tuple[str, int]:
    """The people page: sign-in settings, users, teams, invitations."""
    principal = g.principal
    with app_db().uow() as uow:
        data = {
            "org": org_service.get_settings(uow, principal),
            "users": people_service.list_users(uow, principal),
            "teams": team_service.list_teams(uow, principal),
            "invitations": invite_service.list_invitations(uow, principal),
        }
    managers = [u for u in data["users"] if u["is_active"] and u["role"] in people_service.MANAGING_ROLES]
    return render_template("admin/people.html", **data, managers=managers, roles=ROLES, errors=errors or [],
                           invite_link=invite_link, form=request.form if errors else {}), status


@bp.get("/people")
def people() -> tuple[str, int]:
    """People and teams."""
    return show_people()


@bp.post("/people/users/<int:user_id>")
@form_of(show_people)
def update_user(user_id: int) -> Any:
    """Change a user's role and team (version-guarded, like PATCH /api/v1/admin/users/<id>)."""
    changes: dict[str, Any] = {"role": request.form.get("role", ""), "team_id": form_int("team_id")}
    with app_db().uow() as uow:
        user = people_service.update_user(uow, g.principal, user_id, form_int("version", required=True) or 0, changes)
    return done("admin_pages.people", f"Saved {user['email']}: {user['role']}, team {user['team'] or 'none'}.")


@bp.post("/people/users/<int:user_id>/deactivate")
@form_of(show_people)
def deactivate_user(user_id: int) -> Any:
    """Deactivate a user at once (sign-in and tokens stop working)."""
    with app_db().uow() as uow:
        user = people_service.deactivate_user(uow, g.principal, user_id)
    deals = len(user["deals_to_reassign"])
    return done("admin_pages.people", f"{user['email']} is deactivated; {deals} open deal(s) to reassign.")


@bp.post("/people/teams")
@form_of(show_people)
def create_team() -> Any:
    """Create a team with an optional manager."""
    with app_db().uow() as uow:
        team = team_service.create_team(uow, g.principal, request.form.get("name", ""), form_int("manager_id"))
    return done("admin_pages.people", f"Team {team['name']} created.")


@bp.post("/people/teams/<int:team_id>")
@form_of(show_people)
def update_team(team_id: int) -> Any:
    """Rename a team or change its manager (version-guarded)."""
    changes = {"name": request.form.get("name", ""), "manager_id": form_int("manager_id")}
    with app_db().uow() as uow:
        team = team_service.update_team(uow, g.principal, team_id, form_int("version", required=True) or 0, changes)
    return done("admin_pages.people", f"Saved team {team['name']}.")


@bp.post("/people/organisation")
@form_of(show_people)
def update_organisation() -> Any:
    """Sign-in settings: domains, Microsoft tenants, Google Workspace domain, just-in-time provisioning."""
    changes = {"name": request.form.get("name", ""), "domains": _words("domains"), "ms_tenant_ids": _words("ms_tenant_ids"),
               "google_workspace_domain": request.form.get("google_workspace_domain", "").strip() or None,
               "jit_provisioning": request.form.get("jit_provisioning") == "on"}
    with app_db().uow() as uow:
        org_service.update_settings(uow, g.principal, form_int("version", required=True) or 0, changes)
    return done("admin_pages.people", "Sign-in settings saved.")


@bp.post("/people/invite")
@form_of(show_people)
def invite() -> Any:
    """Invite someone by e-mail; without an e-mail server the link is shown here to copy (it is not stored)."""
    view, link, emailed = invite_person(g.principal, request.form.get("email", ""), request.form.get("name", ""),
                                        request.form.get("role", "rep"), form_int("team_id"))
    if emailed:
        return done("admin_pages.people", f"Invitation e-mailed to {view['email']}.")
    return show_people(invite_link=link)


@bp.post("/people/invitations/<int:invitation_id>/revoke")
@form_of(show_people)
def revoke_invitation(invitation_id: int) -> Any:
    """Withdraw a pending invitation."""
    with app_db().uow() as uow:
        invite_service.revoke_invitation(uow, g.principal, invitation_id)
    return done("admin_pages.people", "Invitation withdrawn.")


# ---------------------------------------------------------------- stages


def show_stages(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """Stages in pipeline order, each editable, and a form for a new one."""
    with app_db().uow() as uow:
        stages = stage_service.list_stages(uow, g.principal)
    return render_template("admin/stages.html", stages=stages, errors=errors or []), status


@bp.get("/stages")
def stages() -> tuple[str, int]:
    """Stages and exit questions."""
    return show_stages()


def _stage_form() -> tuple[str, dict[str, Any]]:
    key = request.form.get("key", "").strip()
    if not STAGE_KEY.fullmatch(key):
        raise InvalidField([{"field": "key", "message": "lower-case letters, digits and underscores, starting with a letter"}])
    questions = []
    for i in (1, 2, 3):
        q_key, q_text = request.form.get(f"q{i}_key", "").strip(), request.form.get(f"q{i}_text", "").strip()
        if q_key or q_text:
            questions.append({"key": q_key, "text": q_text})
    raw = {"name": request.form.get("name", ""), "position": request.form.get("position", ""),
           "probability": request.form.get("probability", ""), "is_closed": request.form.get("is_closed") == "on",
           "is_won": request.form.get("is_won") == "on", "exit_questions": questions}
    try:
        values = StageIn.model_validate(raw, strict=False).model_dump()
    except ValidationError as exc:
        raise InvalidField([{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]) from None
    return key, values


@bp.post("/stages")
@form_of(show_stages)
def save_stage() -> Any:
    """Create or replace a stage (the same rules as PUT /api/v1/stages/<key>)."""
    key, values = _stage_form()
    with app_db().uow() as uow:
        _, created = stage_service.put_stage(uow, g.principal, key, values)
    return done("admin_pages.stages", f"Stage {key} {'added' if created else 'saved'}.")


@bp.post("/stages/<key>/delete")
@form_of(show_stages)
def delete_stage(key: str) -> Any:
    """Delete a stage no deal is in."""
    with app_db().uow() as uow:
        stage_service.delete_stage(uow, g.principal, key)
    return done("admin_pages.stages", f"Stage {key} deleted.")


# ---------------------------------------------------------------- thresholds


def show_thresholds(errors: list[str] | None = None, status: int = 200) -> tuple[str, int]:
    """Every team's alert thresholds beside the defaults, with each key's range."""
    with app_db().uow() as uow:
        teams = team_service.list_teams(uow, g.principal)
    posted_team = form_int("team_id") if errors and request.method == "POST" else None
    return render_template("admin/thresholds.html", teams=teams, specs=list(THRESHOLD_SPECS.values()), errors=errors or [],
                           posted_team=posted_team, form=request.form if posted_team else {}), status


@bp.get("/thresholds")
def thresholds() -> tuple[str, int]:
    """Alert thresholds per team."""
    return show_thresholds()


@bp.post("/thresholds/<int:team_id>")
@form_of(show_thresholds)
def save_thresholds(team_id: int) -> Any:
    """Set a team's thresholds: an empty field goes back to the default; takes effect at the next evaluation."""
    values: dict[str, Any] = {}
    for key in THRESHOLD_SPECS:
        raw = request.form.get(key, "").strip()
        values[key] = raw if raw else None
    with app_db().uow() as uow:
        team = team_service.update_team(uow, g.principal, team_id, form_int("version", required=True) or 0, {"thresholds": values})
    return done("admin_pages.thresholds", f"Thresholds of {team['name']} saved.")
