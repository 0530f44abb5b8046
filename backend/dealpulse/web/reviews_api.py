"""JSON endpoints of pipeline reviews and their action items (/api/v1/action-items, /api/v1/reviews)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, StringConstraints, field_validator

from .toolkit import app_db
from ..services import action_items as items_service
from ..services import reviews as reviews_service
from ..store import utcnow
from .api import parse_body, parse_query, require_principal
from .auth import current_principal
from .openapi import documented
from .schemas import Id, PlanDate, Strict, omittable

bp = Blueprint("reviews_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)

Obstacle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
OwnerName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
OwnerKind = Literal["rep", "manager", "executive"]
Priority = Literal["high", "medium", "low"]
Status = Literal["open", "done", "dropped"]


def _valid_due(value: dt.date | None) -> dt.date | None:
    if value is not None and not (dt.date(2000, 1, 1) <= value <= dt.date(2100, 12, 31)):
        raise ValueError("due date must be between 2000-01-01 and 2100-12-31")
    return value


class ActionItemIn(Strict):
    """A new action item: what blocks the deal, who removes it (rep, manager or a named executive), by when."""

    opportunity_id: Id
    obstacle: Obstacle
    owner_kind: OwnerKind
    owner_name: OwnerName = ""
    due_date: PlanDate
    priority: Priority = "medium"
    review_id: Id | None = None

    _due = field_validator("due_date")(_valid_due)


class ActionItemUpdate(Strict):
    """Changed fields of an action item (leave out what stays)."""

    obstacle: Obstacle | None = omittable()
    owner_kind: OwnerKind | None = omittable()
    owner_name: OwnerName | None = omittable()
    due_date: PlanDate | None = omittable()
    priority: Priority | None = omittable()
    status: Status | None = omittable()

    _due = field_validator("due_date")(_valid_due)


class ActionItemOut(BaseModel):
    """An action item; `overdue`: open and past its due date."""

    id: int
    opportunity_id: int
    opportunity: str
    rep_id: int
    review_id: int | None
    obstacle: str
    owner_kind: OwnerKind
    owner_name: str
    owner: str
    due_date: str
    priority: Priority
    status: Status
    overdue: bool
    created_at: str
    updated_at: str


class ActionItemList(BaseModel):
    """Action items: overdue first, then open ones by priority and due date, then done and dropped ones."""

    items: list[ActionItemOut]


class ActionItemQuery(BaseModel):
    """Filters of the action-item list (every filter optional)."""

    opportunity_id: Id | None = None
    rep_id: Id | None = None
    review_id: Id | None = None
    status: Status | None = None


class ReviewIn(Strict):
    """Start a review of a rep now (a manager's one-to-one): the agenda is snapshotted."""

    rep_id: Id


class ReviewOut(BaseModel):
    """A review: who, when, the agenda snapshot (with the items overdue when it started) and its action items."""

    id: int
    rep: dict[str, Any]
    held_by: dict[str, Any] | None
    held_at: str
    agenda: dict[str, Any]
    action_items: list[ActionItemOut]


class ReviewList(BaseModel):
    """A rep's past reviews, newest first."""

    items: list[ReviewOut]


class ReviewQuery(BaseModel):
    """Whose review history: a rep's id."""

    rep_id: Id


@bp.get("/action-items")
@documented("Action items on deals I may see", tags=("reviews",), query=ActionItemQuery, response=ActionItemList,
            statuses={422: "bad filter"})
def list_action_items() -> Response:
    """A rep sees the items on their deals, a manager their teams', an admin the organisation's."""
    query = parse_query(ActionItemQuery)
    with app_db().uow() as uow:
        items = items_service.list_action_items(uow, current_principal(), utcnow().date(), **query.model_dump())
    return jsonify(items=items)


@bp.post("/action-items")
@documented("Agree an action item on a deal", tags=("reviews",), body=ActionItemIn, response=ActionItemOut,
            statuses={201: "created", 404: "deal not found or not visible", 422: "invalid"})
def create_action_item() -> Response:
    """Open item on the deal; audited."""
    body = parse_body(ActionItemIn)
    values = body.model_dump(exclude={"opportunity_id", "review_id"})
    with app_db().uow() as uow:
        item = items_service.create_action_item(uow, current_principal(), body.opportunity_id, values, body.review_id,
                                                utcnow().date())
    response = jsonify(item)
    response.status_code = 201
    return response


@bp.get("/action-items/<int:item_id>")
@documented("One action item", tags=("reviews",), response=ActionItemOut, statuses={404: "not found or not visible"})
def get_action_item(item_id: int) -> Response:
    """The item as it stands."""
    with app_db().uow() as uow:
        return jsonify(items_service.action_item(uow, current_principal(), item_id, utcnow().date()))


@bp.patch("/action-items/<int:item_id>")
@documented("Change an action item (done, dropped, new due date...)", tags=("reviews",), body=ActionItemUpdate,
            response=ActionItemOut, statuses={404: "not found or not visible", 422: "invalid"})
def update_action_item(item_id: int) -> Response:
    """Each changed field is audited."""
    body = parse_body(ActionItemUpdate)
    values = body.model_dump(exclude_none=True)
    with app_db().uow() as uow:
        item = items_service.update_action_item(uow, current_principal(), item_id, values, utcnow().date())
    return jsonify(item)


@bp.post("/reviews")
@documented("Start a pipeline review of a rep (managers)", tags=("reviews",), body=ReviewIn, response=ReviewOut,
            statuses={201: "created", 403: "not a manager", 404: "rep not found or not visible", 422: "invalid"})
def start_review() -> Response:
    """Snapshots the rep's agenda and overdue items; action items created with its id belong to it."""
    body = parse_body(ReviewIn)
    with app_db().uow() as uow:
        review = reviews_service.start_review(uow, current_principal(), body.rep_id, utcnow())
    response = jsonify(review)
    response.status_code = 201
    return response


@bp.get("/reviews")
@documented("A rep's past reviews with their snapshots and action items", tags=("reviews",), query=ReviewQuery,
            response=ReviewList, statuses={404: "rep not found or not visible", 422: "bad rep id"})
def list_reviews() -> Response:
    """Newest first."""
    query = parse_query(ReviewQuery)
    with app_db().uow() as uow:
        return jsonify(items=reviews_service.review_history(uow, current_principal(), query.rep_id, utcnow()))


@bp.get("/reviews/<int:review_id>")
@documented("One review", tags=("reviews",), response=ReviewOut, statuses={404: "not found or not visible"})
def get_review(review_id: int) -> Response:
    """Its snapshot and action items (as they stand now)."""
    with app_db().uow() as uow:
        return jsonify(reviews_service.load_review(uow, current_principal(), review_id, utcnow()))
