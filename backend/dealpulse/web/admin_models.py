"""Model administration: a JSON API under /api/v1/admin and a small server-rendered page at /admin/models.

Managers and admins see ratings over time and each rater's agreement and leaning (who rates systematically more
positive or negative than the team); admins also see versions with their metrics and what changed, and may
train, promote and roll back. The page has no inline script or style (the app's CSP) and CSRF on every form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint, Response, abort, flash, g, get_flashed_messages, jsonify, redirect, render_template, request, url_for
from pydantic import BaseModel, StringConstraints

from .toolkit import app_db, app_settings
from ..domain.access import Principal, can_administer
from ..services.model_versions import promote_version, switch_version
from ..services.training import TrainingError
from ..services.training_admin import rater_table, ratings_over_time, version_table
from ..services.training_runs import run_as_dict, training_runs
from ..store import TrainingRun
from ..tasks.scoring import queue_rescore
from ..tasks.training import queue_training
from .api import parse_body, require_principal
from .auth import current_principal
from .openapi import documented
from .problems import ApiProblem, Conflict, Forbidden, InvalidInput
from .schemas import Strict
from .signin import csrf_token, require_csrf, signed_in_principal

api = Blueprint("admin_models_api", __name__, url_prefix="/api/v1/admin")
page = Blueprint("admin_models", __name__, url_prefix="/admin", template_folder="templates")
bp = api  # the app registers `bp`; `init_app` adds the page


def init_app(app) -> None:
    """Register the admin page beside the API."""
    app.register_blueprint(page)


# ---------------------------------------------------------------- shared


def _require_manager(principal: Principal) -> None:
    if not principal.is_manager:
        raise Forbidden("only managers and admins see rating reliability")


def _require_admin(principal: Principal) -> None:
    if not can_administer(principal):
        raise Forbidden("only admins manage tone model versions")


def overview(principal: Principal) -> dict[str, Any]:
    """Everything the page shows for the principal's organisation (versions and runs for admins only)."""
    with app_db().uow() as uow:
        data: dict[str, Any] = {
            "ratings_over_time": ratings_over_time(uow, principal.org_id),
            "raters": rater_table(uow, principal.org_id),
        }
        if can_administer(principal):
            data["versions"] = version_table(uow, principal.org_id)
            data["runs"] = training_runs(uow, principal.org_id)
    return data


def _queue_training(org_id: int) -> int:
    return queue_training(org_id, "api")


MAX_REASON_CHARS = 1000


def _promote(principal: Principal, version: str, reason: str) -> str:
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput([{"field": "reason", "message": f"at most {MAX_REASON_CHARS} characters", "type": "string_too_long"}])
    try:
        return promote_version(app_settings(), app_db(), principal.org_id, version, actor=principal, reason=reason,
                                       rescore=queue_rescore)
    except TrainingError as exc:
        raise Conflict(str(exc)) from None


def _rollback(org_id: int) -> str:
    try:
        return switch_version(app_settings(), app_db(), org_id, None, "", rescore=queue_rescore)
    except TrainingError as exc:
        raise Conflict(str(exc)) from None


# ---------------------------------------------------------------- JSON API


class RatingsWeek(BaseModel):
    """Ratings made in one ISO week, by label, and how many agreed with the model's label at the time."""

    week: str
    ratings: int
    negative: int
    neutral: int
    positive: int
    with_model_label: int
    agree_with_model: int


class RatingsOut(BaseModel):
    """Ratings over time, oldest week first."""

    weeks: list[RatingsWeek]


class RaterOut(BaseModel):
    """One rater's reliability: agreement with the consensus, bias, training weight and flag."""

    rater: str
    imported: bool
    ratings: int
    weight: float
    agreement: float | None
    bias: float | None
    flagged: bool
    flag_reason: str
    leaning: str
    label_share: dict[str, Any] | None
    model_agreement: float | None


class RatersOut(BaseModel):
    """Every rater, flagged ones first."""

    raters: list[RaterOut]


class RunOut(BaseModel):
    """A training run's progress and outcome."""

    id: int
    status: str
    trigger: str
    progress: float
    message: str
    candidate_version: str | None
    promoted: bool | None
    created_at: str
    finished_at: str | None


class RunReportOut(RunOut):
    """A training run with its full report."""

    report: dict[str, Any]


class VersionOut(BaseModel):
    """A tone model version with its metrics, the decision on it and what changed."""

    version: str
    scope: Literal["global", "organisation"]
    status: str
    in_use: bool
    method: str
    parent_version: str | None
    seed_eval_f1: float | None
    holdout_f1: float | None
    parent_metrics: dict[str, Any] | None
    decision_reason: str
    data: Any
    what_changed: list[Any]
    created_at: str
    promoted_at: str | None


class ModelsOut(BaseModel):
    """Versions newest first and recent training runs."""

    versions: list[VersionOut]
    runs: list[RunOut]


class TrainQueuedOut(BaseModel):
    """The queued run and where to poll it."""

    run_id: int
    status_url: str


class PromoteIn(Strict):
    """Why an admin promotes a version the promotion policy rejected (optional for an accepted candidate)."""

    reason: Annotated[str, StringConstraints(max_length=MAX_REASON_CHARS)] = ""


class ActiveVersionOut(BaseModel):
    """The version now active for the organisation ("" when the default applies)."""

    active: str


api.before_request(require_principal)


@api.get("/ratings")
@documented("Ratings over time (managers and admins)", tags=("admin",), response=RatingsOut,
            statuses={403: "not a manager or admin"})
def ratings_api() -> Response:
    """Ratings over time (per ISO week, by label, agreement with the model)."""
    principal = current_principal()
    _require_manager(principal)
    with app_db().uow() as uow:
        return jsonify({"weeks": ratings_over_time(uow, principal.org_id)})


@api.get("/raters")
@documented("Every rater's agreement, bias, weight and flag (managers and admins)", tags=("admin",), response=RatersOut,
            statuses={403: "not a manager or admin"})
def raters_api() -> Response:
    """Every rater's agreement, bias, weight and flag."""
    principal = current_principal()
    _require_manager(principal)
    with app_db().uow() as uow:
        return jsonify({"raters": rater_table(uow, principal.org_id)})


@api.get("/models")
@documented("Tone model versions and recent training runs (admins)", tags=("admin",), response=ModelsOut,
            statuses={403: "not an admin"})
def models_api() -> Response:
    """Versions with metrics and what changed, and recent training runs."""
    principal = current_principal()
    _require_admin(principal)
    with app_db().uow() as uow:
        return jsonify({"versions": version_table(uow, principal.org_id),
                        "runs": training_runs(uow, principal.org_id)})


@api.post("/models/train")
@documented("Queue a training run (admins)", tags=("admin",), response=TrainQueuedOut,
            statuses={202: "queued", 403: "not an admin"})
def train_api() -> tuple[Response, int]:
    """Queue a training run on the training queue; 202 with the run to poll."""
    principal = current_principal()
    _require_admin(principal)
    run_id = _queue_training(principal.org_id)
    return jsonify({"run_id": run_id, "status_url": url_for("admin_models_api.run_api", run_id=run_id)}), 202


@api.get("/models/runs/<int:run_id>")
@documented("One training run with its report (admins)", tags=("admin",), response=RunReportOut,
            statuses={403: "not an admin", 404: "no such run in your organisation"})
def run_api(run_id: int) -> Response:
    """One training run's progress and outcome."""
    principal = current_principal()
    _require_admin(principal)
    with app_db().uow() as uow:
        run = uow.s.get(TrainingRun, run_id)
        if run is None or run.org_id != principal.org_id:
            raise ApiProblem("No such training run.", status=404, title="Not found")
        return jsonify({**run_as_dict(run), "report": run.report})


@api.post("/models/<version>/promote")
@documented("Make a version active for the organisation (admins)", tags=("admin",), body=PromoteIn,
            body_required=False, response=ActiveVersionOut,
            statuses={403: "not an admin", 409: "no such version, or it cannot be promoted without a reason",
                      422: "the body is not {\"reason\": \"...\"}"})
def promote_api(version: str) -> Response:
    """Make a version of the organisation active ({"reason"} required for a rejected candidate); re-score queued."""
    principal = current_principal()
    _require_admin(principal)
    body = parse_body(PromoteIn) if request.data else PromoteIn()
    return jsonify({"active": _promote(principal, version, body.reason)})


@api.post("/models/rollback")
@documented("Reject the active version and restore the previous one (admins)", tags=("admin",),
            response=ActiveVersionOut, statuses={403: "not an admin", 409: "nothing to roll back to"})
def rollback_api() -> Response:
    """Reject the active version and restore the previous one; the re-score sweep is queued."""
    principal = current_principal()
    _require_admin(principal)
    return jsonify({"active": _rollback(principal.org_id)})


# ---------------------------------------------------------------- page


@page.before_request
def _require_signin() -> Response | None:
    principal = signed_in_principal()
    if principal is None:
        return redirect(url_for("signin.signin_page", next=request.full_path.rstrip("?")))
    if not principal.is_manager:
        abort(403)
    g.principal = principal
    require_csrf()
    return None


@page.get("/models")
def models_page() -> str:
    """Ratings, raters, versions and the train / promote / rollback forms."""
    principal = g.principal
    return render_template("admin/models.html", me=principal, csrf=csrf_token(), data=overview(principal),
                           is_admin=can_administer(principal), messages=get_flashed_messages())


@page.post("/models/train")
def train_form() -> Response:
    """Queue a training run from the page."""
    if not can_administer(g.principal):
        abort(403)
    flash(f"Training run {_queue_training(g.principal.org_id)} queued; this page shows its progress.")
    return redirect(url_for("admin_models.models_page"))


@page.post("/models/promote")
def promote_form() -> Response:
    """Promote the version named in the form ("promote anyway" sends the admin's reason)."""
    if not can_administer(g.principal):
        abort(403)
    version = request.form.get("version", "")
    try:
        flash(f"{_promote(g.principal, version, request.form.get('reason', ''))} is now active.")
    except (Conflict, InvalidInput) as exc:
        flash(f"Not promoted: {_problem_text(exc)}")
    return redirect(url_for("admin_models.models_page"))


def _problem_text(problem: ApiProblem) -> str:
    errors = problem.extra.get("errors") or []
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(problem.detail)


@page.post("/models/rollback")
def rollback_form() -> Response:
    """Roll back to the previous version."""
    if not can_administer(g.principal):
        abort(403)
    try:
        flash(f"Rolled back; {_rollback(g.principal.org_id) or 'the default version'} is now active.")
    except Conflict as exc:
        flash(f"Nothing rolled back: {exc.detail}")
    return redirect(url_for("admin_models.models_page"))
