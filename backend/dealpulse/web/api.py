"""The JSON API under /api/v1: opportunities, exit answers, buying team, history, stages; the OpenAPI document.

Pattern for other blueprints: `bp.before_request(require_principal)` authenticates; views open a unit of work with
`app_db().uow()`, call a service with `current_principal()` and plain values, and return JSON. Service errors are
mapped to problems by `register_service_errors`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from .toolkit import app_alert_defaults, app_db
from ..services import deal_qualification as qualification_service
from ..services import opportunities as opp_service
from ..services import stages as stage_service
from ..services.errors import ConflictError, InvalidField, NotFoundError, PermissionDenied, StaleVersion
from ..store import User
from .auth import authenticate_request, current_principal
from .openapi import build_openapi, documented
from .problems import (
    ApiProblem,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    problem_response,
    validation_errors,
)
from .schemas import (
    BuyingRoleUpdate,
    BuyingTeamAdd,
    ExitAnswersUpdate,
    HistoryOut,
    MeOut,
    OpportunityCreate,
    OpportunityList,
    OpportunityOut,
    OpportunityQuery,
    OpportunityUpdate,
    StageIn,
    StageList,
    StageOut,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = {"api.openapi"}
STAGE_KEY_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
STAGE_KEY = re.compile(STAGE_KEY_PATTERN)


@bp.before_request
def require_principal() -> None:
    """Authenticate every API request (except the OpenAPI document)."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.method == "OPTIONS":
        return
    with app_db().uow() as uow:
        g.principal = authenticate_request(uow.s)
        uow.commit()  # token last-used time


SERVICE_PROBLEMS: dict[type[Exception], type[ApiProblem]] = {
    NotFoundError: NotFound,
    PermissionDenied: Forbidden,
    ConflictError: Conflict,
}


def register_service_errors(app: Flask) -> None:
    """Map service errors to HTTP problems for every blueprint."""
    for error, problem in SERVICE_PROBLEMS.items():
        app.register_error_handler(error, lambda exc, problem=problem: problem_response(problem(str(exc))))

    @app.errorhandler(InvalidField)
    def _invalid(exc: InvalidField) -> Response:
        return problem_response(InvalidInput(exc.errors))

    @app.errorhandler(StaleVersion)
    def _stale(exc: StaleVersion) -> Response:
        cls = PreconditionFailed if g.get("version_from_if_match") else Conflict
        problem = cls(
            "Someone changed this opportunity since you loaded it; nothing was saved. Review their changes and reapply yours.",
            current=exc.current,
            changes_since=exc.changes_since,
            your_version=exc.expected,
        )
        response = problem_response(problem)
        response.headers["ETag"] = etag(exc.current["version"])
        return response


def init_app(app: Flask) -> None:
    """Install the service-error mapping."""
    register_service_errors(app)


def parse_body(model: type[BaseModel]) -> BaseModel:
    """Validate the JSON body against `model` or raise a 422 naming each bad field.

    Validation is strict on JSON types, as the OpenAPI document says: `true` or `"3"` is not an id, `1` is not a
    boolean (dates and amounts still come as the JSON strings and numbers the document names)."""
    payload = request.get_json(silent=True)
    if payload is None:
        raise InvalidInput([{"field": "(body)", "message": "send a JSON object", "type": "json_invalid"}])
    if not isinstance(payload, dict):
        raise InvalidInput([{"field": "(body)", "message": "the body must be a JSON object", "type": "object_type"}])
    try:
        return model.model_validate_json(json.dumps(payload), strict=True)
    except ValidationError as exc:
        raise InvalidInput(validation_errors(exc)) from None


def parse_query(model: type[BaseModel]) -> BaseModel:
    """Validate query parameters against `model` (422 for bad ones)."""
    raw: dict[str, Any] = {}
    for key, value in request.args.items():
        if value.lower() in ("true", "false") and key.startswith("is_"):
            raw[key] = value.lower() == "true"
        else:
            raw[key] = value
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidInput(validation_errors(exc)) from None


def etag(version: int) -> str:
    """The ETag of an object version."""
    return f'"{version}"'


def expected_version(body_version: int | None) -> int:
    """The version a write was based on: If-Match (ETag) or the body's `version`; required."""
    header = request.headers.get("If-Match")
    if header:
        value = header.strip().removeprefix("W/").strip('"')
        if not value.isdigit():
            raise InvalidInput([{"field": "If-Match", "message": "must be the ETag you read, e.g. \"3\"", "type": "etag"}])
        g.version_from_if_match = True
        return int(value)
    if body_version is None:
        raise ApiProblem(
            "Send the version you read: an If-Match header with the ETag, or a `version` field.",
            status=428,
            title="Precondition required",
        )
    return body_version


def with_etag(data: dict[str, Any], status: int = 200) -> Response:
    """A JSON response carrying the object's ETag."""
    response = jsonify(data)
    response.status_code = status
    response.headers["ETag"] = etag(data["version"])
    return response


@bp.get("/openapi.json")
@documented("The OpenAPI document of this API", tags=("meta",), public=True)
def openapi() -> Response:
    """Serve the OpenAPI document generated from the registered views."""
    return jsonify(build_openapi(current_app))


@bp.get("/me")
@documented("The authenticated user", tags=("identity",), response=MeOut)
def me() -> Response:
    """Who am I (role, team, managed teams)."""
    principal = current_principal()
    with app_db().uow() as uow:
        user = uow.s.get(User, principal.user_id)
        return jsonify(
            id=user.id, name=user.name, email=user.email, role=user.role, org_id=user.org_id, team_id=user.team_id,
            managed_team_ids=sorted(principal.managed_team_ids),
        )


@bp.get("/opportunities")
@documented("List opportunities visible to me", tags=("opportunities",), query=OpportunityQuery, response=OpportunityList,
            statuses={422: "bad filter"})
def list_opportunities() -> Response:
    """Mine by default; `scope=team` for my team's (managers: the teams they manage); `scope=all` for all visible."""
    query = parse_query(OpportunityQuery)
    with app_db().uow() as uow:
        result = opp_service.list_opportunities(
            uow, current_principal(), opp_service.OpportunityFilters(**query.model_dump())
        )
    return jsonify(result)


@bp.post("/opportunities")
@documented("Create an opportunity", tags=("opportunities",), body=OpportunityCreate, response=OpportunityOut,
            statuses={201: "created", 422: "invalid fields"}, etag=True)
def create_opportunity() -> Response:
    """Create an opportunity owned by me (or, for managers/admins, by someone they manage)."""
    body = parse_body(OpportunityCreate)
    with app_db().uow() as uow:
        data = opp_service.create_opportunity(uow, current_principal(), body.model_dump(), alert_defaults=app_alert_defaults())
    return with_etag(data, 201)


@bp.get("/opportunities/<int:opportunity_id>")
@documented("One opportunity with exit questions and buying team", tags=("opportunities",), response=OpportunityOut,
            statuses={404: "not found or not visible"}, etag=True)
def get_opportunity(opportunity_id: int) -> Response:
    """The opportunity; its ETag is the version to send back with a change."""
    with app_db().uow() as uow:
        data = opp_service.get_opportunity(uow, current_principal(), opportunity_id)
    return with_etag(data)


@bp.patch("/opportunities/<int:opportunity_id>")
@documented("Change an opportunity (version-guarded)", tags=("opportunities",), body=OpportunityUpdate,
            response=OpportunityOut,
            statuses={404: "not found or not visible", 409: "stale version in body", 412: "stale If-Match",
                      422: "invalid fields", 428: "version missing"}, versioned=True)
def update_opportunity(opportunity_id: int) -> Response:
    """Apply the given fields if the version is current; a stale write changes nothing and returns the current state."""
    body = parse_body(OpportunityUpdate)
    version = expected_version(body.version)
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    with app_db().uow() as uow:
        data = opp_service.update_opportunity(uow, current_principal(), opportunity_id, version, changes, alert_defaults=app_alert_defaults())
    return with_etag(data)


@bp.put("/opportunities/<int:opportunity_id>/exit-answers")
@documented("Answer exit questions of the current stage", tags=("opportunities",), body=ExitAnswersUpdate,
            response=OpportunityOut, statuses={404: "not found", 409: "stale", 412: "stale If-Match", 422: "invalid",
                                               428: "version missing"}, versioned=True)
def answer_exit_questions(opportunity_id: int) -> Response:
    """Record yes/no answers; unanswered questions raise alerts later but never block a stage change."""
    body = parse_body(ExitAnswersUpdate)
    version = expected_version(body.version)
    with app_db().uow() as uow:
        data = qualification_service.answer_exit_questions(uow, current_principal(), opportunity_id, version, body.answers, alert_defaults=app_alert_defaults())
    return with_etag(data)


@bp.put("/opportunities/<int:opportunity_id>/buying-team/<int:contact_id>")
@documented("Set a contact's buying-team role (null removes)", tags=("opportunities",), body=BuyingRoleUpdate,
            response=OpportunityOut, statuses={404: "not found", 409: "stale", 412: "stale If-Match", 422: "invalid",
                                               428: "version missing"}, versioned=True)
def set_buying_role(opportunity_id: int, contact_id: int) -> Response:
    """Put a contact on the buying team, change their role, or remove them."""
    body = parse_body(BuyingRoleUpdate)
    version = expected_version(body.version)
    with app_db().uow() as uow:
        data = qualification_service.set_buying_role(uow, current_principal(), opportunity_id, version, contact_id, body.role, alert_defaults=app_alert_defaults())
    return with_etag(data)


@bp.post("/opportunities/<int:opportunity_id>/buying-team")
@documented("Add a person to the buying team by address (e.g. from the email's participants)", tags=("opportunities",),
            body=BuyingTeamAdd, response=OpportunityOut,
            statuses={404: "not found", 409: "stale", 412: "stale If-Match", 422: "invalid or a colleague's address",
                      428: "version missing"}, versioned=True)
def add_to_buying_team(opportunity_id: int) -> Response:
    """Put the address on the team with a role; an unknown address becomes a contact of the deal's account."""
    body = parse_body(BuyingTeamAdd)
    version = expected_version(body.version)
    with app_db().uow() as uow:
        data = qualification_service.add_to_buying_team(uow, current_principal(), opportunity_id, version, body.email, body.name, body.role, alert_defaults=app_alert_defaults())
    return with_etag(data)


@bp.get("/opportunities/<int:opportunity_id>/history")
@documented("Audit history of an opportunity", tags=("opportunities",), response=HistoryOut,
            statuses={404: "not found"})
def opportunity_history(opportunity_id: int) -> Response:
    """Every field change: who, what, when, from which surface."""
    with app_db().uow() as uow:
        items = opp_service.opportunity_history(uow, current_principal(), opportunity_id)
    return jsonify(items=items)


@bp.get("/stages")
@documented("Pipeline stages with exit questions", tags=("stages",), response=StageList)
def list_stages() -> Response:
    """The organisation's stages in order."""
    with app_db().uow() as uow:
        return jsonify(items=stage_service.list_stages(uow, current_principal()))


@bp.put("/stages/<key>")
@documented("Create or replace a stage (admin)", tags=("stages",), body=StageIn, response=StageOut,
            statuses={200: "replaced", 201: "created", 403: "not an admin", 422: "invalid"},
            path_patterns={"key": STAGE_KEY_PATTERN})
def put_stage(key: str) -> Response:
    """Define a stage with two or three exit questions (closed stages have none)."""
    body = parse_body(StageIn)
    if not STAGE_KEY.fullmatch(key):
        raise InvalidInput([{"field": "key", "message": "lower-case letters, digits and underscores", "type": "pattern"}])
    with app_db().uow() as uow:
        data, created = stage_service.put_stage(uow, current_principal(), key, body.model_dump())
    response = jsonify(data)
    response.status_code = 201 if created else 200
    return response


@bp.delete("/stages/<key>")
@documented("Delete an unused stage (admin)", tags=("stages",),
            statuses={204: "deleted", 403: "not an admin", 404: "not found", 409: "in use"},
            path_patterns={"key": STAGE_KEY_PATTERN})
def delete_stage(key: str) -> Response:
    """Remove a stage no opportunity is in."""
    with app_db().uow() as uow:
        stage_service.delete_stage(uow, current_principal(), key)
    return Response(status=204)
