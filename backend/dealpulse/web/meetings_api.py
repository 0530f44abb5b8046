"""JSON endpoints of meeting outcomes: record how a meeting with the buyer went; the meetings still waiting for one."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, StringConstraints

from .toolkit import app_db
from ..services import meetings as meetings_service
from ..store import utcnow
from .api import parse_body, require_principal
from .auth import current_principal
from .openapi import documented
from .schemas import Strict

bp = Blueprint("meetings_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)


class OutcomeIn(Strict):
    """How the meeting went, the agreed next step and a short note."""

    outcome: Literal["positive", "neutral", "negative"]
    next_step: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class OutcomeOut(BaseModel):
    """A meeting's recorded outcome."""

    activity_id: int
    outcome: Literal["positive", "neutral", "negative"]
    next_step: str
    note: str
    recorded_by: str | None
    recorded_at: str


class AwaitingMeeting(BaseModel):
    """A meeting with the buyer that ended more than two days ago and has no outcome yet."""

    activity_id: int
    opportunity_id: int
    opportunity: str
    subject: str
    ended_at: str


class AwaitingList(BaseModel):
    """The gentle to-do: meetings waiting for their outcome, oldest first."""

    items: list[AwaitingMeeting]


@bp.put("/activities/<int:activity_id>/outcome")
@documented("Record how a meeting with the buyer went (after it ended)", tags=("meetings",), body=OutcomeIn,
            response=OutcomeOut, statuses={404: "meeting not found or not yours to change", 422: "invalid, not ended, or no buyer"})
def record_outcome(activity_id: int) -> Response:
    """One current outcome per meeting (changeable); audited."""
    body = parse_body(OutcomeIn)
    with app_db().uow() as uow:
        return jsonify(meetings_service.record_outcome(uow, current_principal(), activity_id, body.model_dump(), utcnow()))


@bp.get("/meetings/awaiting-outcome")
@documented("Meetings with the buyer still waiting for an outcome two days after they ended", tags=("meetings",),
            response=AwaitingList)
def awaiting_outcome() -> Response:
    """A reminder, never a blocker."""
    with app_db().uow() as uow:
        return jsonify(items=meetings_service.awaiting_outcome(uow, current_principal(), utcnow()))
