"""JSON endpoints of early warnings: the alert feed, acknowledge/resolve, a deal's health, a rep's review agenda."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field

from .toolkit import app_alert_defaults, app_db
from ..services.alert_actions import acknowledge_alert, resolve_alert
from ..services.alert_feed import alert_feed, deal_health
from ..services import review_agenda as agenda_service
from .api import parse_query, require_principal
from .auth import current_principal
from .openapi import documented
from .schemas import Id

bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1")


class AlertQuery(BaseModel):
    """Filters of the alert feed."""

    state: Literal["unresolved", "open", "acknowledged", "resolved", "all"] = "unresolved"
    opportunity_id: Id | None = None
    owner_id: Id | None = None
    limit: int = Field(100, ge=1, le=500)


class AlertOut(BaseModel):
    """One alert: which rule fired on which deal, why, and where it is in its life."""

    id: int
    opportunity_id: int
    opportunity: str
    owner: str
    rule: str
    state: Literal["open", "acknowledged", "resolved"]
    severity: Literal["info", "warning", "critical"]
    reason: str
    evidence: dict[str, Any]
    opened_at: str
    acknowledged_at: str | None
    resolved_at: str | None
    resolution: str | None
    rearm_at: str | None


class AlertList(BaseModel):
    """Alerts, most severe and newest first."""

    items: list[AlertOut]


class HealthReason(BaseModel):
    """One signal lowering a deal's health."""

    rule: str
    severity: str
    reason: str
    evidence: dict[str, Any]


class HealthOut(BaseModel):
    """A deal's health 0-100 evaluated now, its reasons worst first, and rules that could not be evaluated."""

    opportunity_id: int
    score: int
    band: Literal["good", "watch", "at_risk"]
    evaluated_at: str
    reasons: list[HealthReason]
    skipped: dict[str, str]


class AgendaQuery(BaseModel):
    """Whose one-to-one: a rep's id (default: me)."""

    rep_id: Id | None = None


class AgendaDeal(BaseModel):
    """A deal to discuss with its risk, amount and reasons; priority = (100 - health) x relative_size."""

    opportunity_id: int
    name: str
    amount: str
    currency: str
    stage: str
    health: int
    priority: float
    relative_size: float = Field(description="amount over the mean of the rep's open deals in the same currency")
    reasons: list[str]


class AgendaCurrency(BaseModel):
    """The rep's open pipeline in one currency (amounts are never added across currencies)."""

    currency: str
    open_deals: int
    open_amount: str
    agenda_amount: str = Field(description="the part of open_amount on this agenda")


class AgendaOut(BaseModel):
    """The three problem deals of one rep (risk x size within its currency), and the open pipeline per currency."""

    rep: dict[str, Any]
    deals: list[AgendaDeal]
    by_currency: list[AgendaCurrency]


bp.before_request(require_principal)


@bp.get("/alerts")
@documented("Alerts on deals I may see", tags=("alerts",), query=AlertQuery, response=AlertList, statuses={422: "bad filter"})
def list_alerts() -> Response:
    """Unresolved alerts by default; managers see their teams', admins the organisation's, reps their own."""
    query = parse_query(AlertQuery)
    with app_db().uow() as uow:
        items = alert_feed(uow, current_principal(), **query.model_dump())
    return jsonify(items=items)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@documented("Acknowledge an open alert", tags=("alerts",), response=AlertOut,
            statuses={404: "not found or not visible", 409: "not open"})
def acknowledge(alert_id: int) -> Response:
    """Quiet until its re-arm time; it re-opens then if the condition still holds."""
    with app_db().uow() as uow:
        return jsonify(acknowledge_alert(uow, current_principal(), alert_id, alert_defaults=app_alert_defaults()))


@bp.post("/alerts/<int:alert_id>/resolve")
@documented("Resolve an alert by hand", tags=("alerts",), response=AlertOut,
            statuses={404: "not found or not visible", 409: "already resolved"})
def resolve(alert_id: int) -> Response:
    """Resolved now; if the condition still holds a new alert opens after the re-arm time."""
    with app_db().uow() as uow:
        return jsonify(resolve_alert(uow, current_principal(), alert_id, alert_defaults=app_alert_defaults()))


@bp.get("/opportunities/<int:opportunity_id>/health")
@documented("A deal's health with its reasons", tags=("alerts",), response=HealthOut, statuses={404: "not found or not visible"})
def health(opportunity_id: int) -> Response:
    """Every rule evaluated now (nothing stored)."""
    with app_db().uow() as uow:
        return jsonify(deal_health(uow, current_principal(), opportunity_id, alert_defaults=app_alert_defaults()))


@bp.get("/review-agenda")
@documented("A rep's review agenda: three problem deals", tags=("alerts",), query=AgendaQuery, response=AgendaOut,
            statuses={404: "rep not found or not visible", 422: "bad rep id"})
def review_agenda() -> Response:
    """The deals a 30-minute one-to-one should discuss, by risk x size within each currency, with reasons."""
    query = parse_query(AgendaQuery)
    principal = current_principal()
    with app_db().uow() as uow:
        return jsonify(agenda_service.review_agenda(uow, principal, query.rep_id or principal.user_id))
