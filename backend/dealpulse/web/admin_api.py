"""The admin API under /api/v1/admin/: organisation settings, users and teams (admins of that organisation only).

Reps and managers get 403; an admin asking for another organisation's user or team gets 404 (the same answer as
for one that does not exist). Changes carry the version they read (If-Match or a `version` field), as
opportunities do; a stale write changes nothing and answers 409/412 with the current state.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify
from sqlalchemy.exc import IntegrityError

from ..domain.threshold_settings import THRESHOLD_SPECS
from ..services import invitations as invite_service
from ..services import organisations as org_service
from ..services import people as people_service
from ..services import teams as team_service
from ..services.admin_common import require_admin
from ..services.errors import StaleVersion
from .admin_schemas import (
    Deactivation,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    InvitationOut,
    OrganisationOut,
    OrganisationUpdate,
    TeamCreate,
    TeamList,
    TeamOut,
    TeamUpdate,
    ThresholdSpecList,
    UserCreate,
    UserDetail,
    UserList,
    UserOut,
    UserQuery,
    UserUpdate,
)
from .api import etag, expected_version, parse_body, parse_query, require_principal, with_etag
from .auth import current_principal
from .invitation_links import invitation_json, invite_person
from .openapi import documented
from .problems import Conflict, PreconditionFailed, problem_response
from .toolkit import app_db

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")

ADMIN = {403: "not an admin"}
EDIT = {**ADMIN, 404: "not found in your organisation", 409: "stale version in body", 412: "stale If-Match",
        422: "invalid fields", 428: "version missing"}


# Authenticated like the rest of /api/v1 (the services refuse non-admins); path ids no database can hold are
# answered 404 by `request_input` before any view runs.
bp.before_request(require_principal)


@bp.errorhandler(IntegrityError)
def _raced(_exc: IntegrityError) -> Response:
    # Checks run before writing; only a concurrent request creating the same address or team name gets here.
    return problem_response(Conflict("Someone else just created or changed the same thing; nothing was saved. Reload and retry."))


@bp.errorhandler(StaleVersion)
def _stale(exc: StaleVersion) -> Response:
    cls = PreconditionFailed if g.get("version_from_if_match") else Conflict
    response = problem_response(cls(
        "Someone changed this since you loaded it; nothing was saved. Review their changes and reapply yours.",
        current=exc.current, changes_since=exc.changes_since, your_version=exc.expected,
    ))
    response.headers["ETag"] = etag(exc.current["version"])
    return response


# ---------------------------------------------------------------- organisation


@bp.get("/organisation")
@documented("My organisation's settings (admin)", tags=("admin",), response=OrganisationOut, statuses=ADMIN, etag=True)
def get_organisation() -> Response:
    """Name, mail domains, accepted Microsoft tenants and Google Workspace domain."""
    with app_db().uow() as uow:
        return with_etag(org_service.get_settings(uow, current_principal()))


@bp.patch("/organisation")
@documented("Change my organisation's settings (admin, version-guarded)", tags=("admin",), body=OrganisationUpdate,
            response=OrganisationOut, statuses={s: d for s, d in EDIT.items() if s != 404}, versioned=True)
def update_organisation() -> Response:
    """Apply the given settings if the version is current; domains no other organisation uses, tenant ids as GUIDs."""
    body = parse_body(OrganisationUpdate)
    version = expected_version(body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})  # the schema refuses nulls the service cannot take
    with app_db().uow() as uow:
        data = org_service.update_settings(uow, current_principal(), version, changes)
    return with_etag(data)


# ---------------------------------------------------------------- users


@bp.get("/users")
@documented("Users of my organisation (admin)", tags=("admin",), query=UserQuery, response=UserList,
            statuses={**ADMIN, 422: "bad filter"})
def list_users() -> Response:
    """Everyone by name, or only active / deactivated users; `needs_reassignment` flags deals left behind."""
    query = parse_query(UserQuery)
    active = {"active": True, "deactivated": False, "all": None}[query.status]
    with app_db().uow() as uow:
        return jsonify(items=people_service.list_users(uow, current_principal(), active))


@bp.post("/users")
@documented("Add a user (admin)", tags=("admin",), body=UserCreate, response=UserOut,
            statuses={201: "created", **ADMIN, 422: "invalid fields or address already in use"}, etag=True)
def create_user() -> Response:
    """Create an active user who signs in with Google or Microsoft under this address."""
    body = parse_body(UserCreate)
    with app_db().uow() as uow:
        data = people_service.add_user(uow, current_principal(), body.email, body.name, body.role, body.team_id)
    return with_etag(data, 201)


@bp.get("/users/<int:user_id>")
@documented("One user of my organisation (admin)", tags=("admin",), response=UserDetail,
            statuses={**ADMIN, 404: "not found in your organisation"}, etag=True)
def get_user(user_id: int) -> Response:
    """The user; a deactivated one lists the open deals to reassign."""
    with app_db().uow() as uow:
        return with_etag(people_service.get_user(uow, current_principal(), user_id))


@bp.patch("/users/<int:user_id>")
@documented("Change a user's name, role or team (admin, version-guarded)", tags=("admin",), body=UserUpdate,
            response=UserOut, statuses=EDIT, versioned=True)
def update_user(user_id: int) -> Response:
    """Takes effect on the user's next request; the last active admin cannot be demoted."""
    body = parse_body(UserUpdate)
    version = expected_version(body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    with app_db().uow() as uow:
        data = people_service.update_user(uow, current_principal(), user_id, version, changes)
    return with_etag(data)


@bp.post("/users/<int:user_id>/deactivate")
@documented("Deactivate a user at once (admin)", tags=("admin",), response=Deactivation,
            statuses={**ADMIN, 404: "not found in your organisation", 409: "the last active admin"}, etag=True)
def deactivate_user(user_id: int) -> Response:
    """Sign-in and tokens stop working now; their deals stay, listed for reassignment; idempotent."""
    with app_db().uow() as uow:
        return with_etag(people_service.deactivate_user(uow, current_principal(), user_id))


# ---------------------------------------------------------------- invitations


@bp.get("/invitations")
@documented("Invitations of my organisation (admin)", tags=("admin",), response=InvitationList, statuses=ADMIN)
def list_invitations() -> Response:
    """Newest first, each pending, accepted, revoked or expired."""
    with app_db().uow() as uow:
        return jsonify(items=[invitation_json(i) for i in invite_service.list_invitations(uow, current_principal())])


@bp.post("/invitations")
@documented("Invite someone by e-mail (admin)", tags=("admin",), body=InvitationCreate, response=InvitationCreated,
            statuses={201: "created", **ADMIN, 422: "invalid fields or address already in use"})
def create_invitation() -> tuple[Response, int]:
    """A signed link that works once, for 7 days; e-mailed through DEALPULSE_SMTP_URL when set (`emailed`)."""
    body = parse_body(InvitationCreate)
    view, link, emailed = invite_person(current_principal(), body.email, body.name, body.role, body.team_id)
    return jsonify({**invitation_json(view), "link": link, "emailed": emailed}), 201


@bp.post("/invitations/<int:invitation_id>/revoke")
@documented("Withdraw a pending invitation (admin)", tags=("admin",), response=InvitationOut,
            statuses={**ADMIN, 404: "not found in your organisation", 409: "already accepted"})
def revoke_invitation(invitation_id: int) -> Response:
    """Its link opens nothing from now on; withdrawing twice changes nothing."""
    with app_db().uow() as uow:
        return jsonify(invitation_json(invite_service.revoke_invitation(uow, current_principal(), invitation_id)))


# ---------------------------------------------------------------- teams


@bp.get("/thresholds")
@documented("Alert-threshold keys with type, range and default (admin)", tags=("admin",), response=ThresholdSpecList,
            statuses=ADMIN)
def threshold_keys() -> Response:
    """What `thresholds` in a team may contain."""
    require_admin(current_principal(), "see threshold settings")
    kinds = {int: "integer", float: "number", list: "stage_keys"}
    return jsonify(items=[
        {"key": s.key, "type": kinds[s.kind], "minimum": s.minimum, "maximum": s.maximum, "default": s.default,
         "description": s.description}
        for s in THRESHOLD_SPECS.values()
    ])


@bp.get("/teams")
@documented("Teams of my organisation (admin)", tags=("admin",), response=TeamList, statuses=ADMIN)
def list_teams() -> Response:
    """Teams by name with manager, members and thresholds."""
    with app_db().uow() as uow:
        return jsonify(items=team_service.list_teams(uow, current_principal()))


@bp.post("/teams")
@documented("Create a team (admin)", tags=("admin",), body=TeamCreate, response=TeamOut,
            statuses={201: "created", **ADMIN, 422: "invalid fields"}, etag=True)
def create_team() -> Response:
    """A new team, optionally with its manager and thresholds."""
    body = parse_body(TeamCreate)
    thresholds = body.thresholds.model_dump(exclude_unset=True) if body.thresholds else {}
    with app_db().uow() as uow:
        data = team_service.create_team(uow, current_principal(), body.name, body.manager_id, thresholds)
    return with_etag(data, 201)


@bp.get("/teams/<int:team_id>")
@documented("One team of my organisation (admin)", tags=("admin",), response=TeamOut,
            statuses={**ADMIN, 404: "not found in your organisation"}, etag=True)
def get_team(team_id: int) -> Response:
    """The team; its ETag is the version to send back with a change."""
    with app_db().uow() as uow:
        return with_etag(team_service.get_team(uow, current_principal(), team_id))


@bp.patch("/teams/<int:team_id>")
@documented("Rename a team, change its manager or thresholds (admin, version-guarded)", tags=("admin",),
            body=TeamUpdate, response=TeamOut, statuses=EDIT, versioned=True)
def update_team(team_id: int) -> Response:
    """Thresholds take effect at the next alert evaluation, for this team's deals only."""
    body = parse_body(TeamUpdate)
    version = expected_version(body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version", "thresholds"})
    if body.thresholds is not None:
        changes["thresholds"] = body.thresholds.model_dump(exclude_unset=True)
    with app_db().uow() as uow:
        data = team_service.update_team(uow, current_principal(), team_id, version, changes)
    return with_etag(data)
