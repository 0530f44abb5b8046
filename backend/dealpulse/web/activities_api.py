"""Capture in the JSON API: a deal's timeline and dynamics, one activity (same visibility rules), and my mailboxes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from .toolkit import app_db
from ..services import activities as activity_service
from ..services.mailboxes import mailbox_status
from .api import parse_query, require_principal
from .auth import current_principal
from .capture_schemas import ActivityOut, DynamicsOut, MailboxList, TimelineOut
from .openapi import documented

bp = Blueprint("activities_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)


class TimelineQuery(BaseModel):
    """Paging of a timeline: at most `limit` items older than `before`."""

    model_config = ConfigDict(extra="forbid")
    limit: Annotated[int, Field(ge=1, le=activity_service.MAX_PAGE)] = 50
    before: dt.datetime | None = None


@bp.get("/opportunities/<int:opportunity_id>/activities")
@documented("A deal's emails and meetings, newest first", tags=("activities",), query=TimelineQuery,
            response=TimelineOut, statuses={404: "not found or not visible", 422: "bad paging"})
def opportunity_activities(opportunity_id: int) -> Response:
    """The timeline with tone; private content is metadata-only for anyone but the reps who captured it."""
    query = parse_query(TimelineQuery)
    before = query.before
    if before is not None and before.tzinfo is None:
        before = before.replace(tzinfo=dt.timezone.utc)
    with app_db().uow() as uow:
        data = activity_service.opportunity_timeline(uow, current_principal(), opportunity_id, limit=query.limit, before=before)
    return jsonify(data)


@bp.get("/opportunities/<int:opportunity_id>/dynamics")
@documented("Inbound/outbound counts, last inbound/outbound, meetings, engaged buyer contacts", tags=("activities",),
            response=DynamicsOut, statuses={404: "not found or not visible"})
def opportunity_dynamics(opportunity_id: int) -> Response:
    """How the conversation with the buyer is going, in numbers."""
    with app_db().uow() as uow:
        data = activity_service.opportunity_dynamics(uow, current_principal(), opportunity_id)
    return jsonify(data)


@bp.get("/activities/<int:activity_id>")
@documented("One email or meeting", tags=("activities",), response=ActivityOut, statuses={404: "not found or not visible"})
def get_activity(activity_id: int) -> Response:
    """The activity (content hidden when it is private and the caller did not capture it)."""
    with app_db().uow() as uow:
        data = activity_service.get_activity(uow, current_principal(), activity_id)
    return jsonify(data)


@bp.get("/mailboxes")
@documented("My connected mailboxes and their sync state in words (admins: the organisation's)", tags=("activities",),
            response=MailboxList)
def my_mailboxes() -> Response:
    """Sync state per mailbox, e.g. "needs_reconnect" with what to do, for the sidebar and dashboard."""
    principal = current_principal()
    with app_db().uow() as uow:
        if principal.is_admin:
            rows = mailbox_status(uow, org_id=principal.org_id)
        else:
            rows = mailbox_status(uow, org_id=principal.org_id, user_id=principal.user_id)
    return jsonify(items=[r.as_dict() for r in rows])
