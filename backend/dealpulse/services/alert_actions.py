"""People acting on alerts: acknowledge (quiet until the re-arm time) or resolve by hand, audited; the state
machine in `domain.alert_state` decides what each may do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain import alert_state
from ..domain.access import Principal
from ..domain.alert_rules import Thresholds
from ..store import Alert, Opportunity, Team, User, utcnow
from ..store.uow import UnitOfWork
from .alert_engine import alert_facts
from .alert_feed import alert_view
from .audit import record_changes
from .errors import ConflictError, NotFoundError
from .access import load_visible


def _visible_alert(uow: UnitOfWork, principal: Principal, alert_id: int) -> Alert:
    alert = uow.s.get(Alert, alert_id)
    if alert is None or alert.org_id != principal.org_id:
        raise NotFoundError(f"alert {alert_id} not found")
    load_visible(uow.s, principal, alert.opportunity_id)
    return alert


def _rearm_after(s: Session, alert: Alert, defaults: Thresholds) -> timedelta:
    team_id = s.scalar(select(User.team_id).join(Opportunity, Opportunity.owner_id == User.id).where(Opportunity.id == alert.opportunity_id))
    if team_id is None:
        return defaults.rearm_after
    days, settings = s.execute(select(Team.gone_dark_after_days, Team.settings).where(Team.id == team_id)).one()
    return Thresholds.from_team(days, settings, defaults).rearm_after


def acknowledge_alert(
    uow: UnitOfWork, principal: Principal, alert_id: int, now: datetime | None = None, *, alert_defaults: Thresholds
) -> dict[str, Any]:
    """Acknowledge an open alert: quiet until its re-arm time if the condition still holds; commits."""
    now = now or utcnow()
    alert = _visible_alert(uow, principal, alert_id)
    try:
        decision = alert_state.acknowledge(alert_facts(alert), now, _rearm_after(uow.s, alert, alert_defaults))
    except alert_state.TransitionError as exc:
        raise ConflictError(str(exc)) from None
    alert.state, alert.acknowledged_at, alert.acknowledged_by_id, alert.rearm_at = "acknowledged", now, principal.user_id, decision.rearm_at
    record_changes(uow.s, principal, "alert", alert.id, alert.org_id, {"state": ("open", "acknowledged")})
    uow.commit()
    return alert_view(alert)


def resolve_alert(
    uow: UnitOfWork, principal: Principal, alert_id: int, now: datetime | None = None, *, alert_defaults: Thresholds
) -> dict[str, Any]:
    """Resolve an alert by hand; if its condition still holds a new alert opens after the re-arm time; commits."""
    now = now or utcnow()
    alert = _visible_alert(uow, principal, alert_id)
    try:
        decision = alert_state.resolve(alert_facts(alert), now, _rearm_after(uow.s, alert, alert_defaults))
    except alert_state.TransitionError as exc:
        raise ConflictError(str(exc)) from None
    old = alert.state
    alert.state, alert.resolved_at, alert.resolved_by_id = "resolved", now, principal.user_id
    alert.resolution, alert.rearm_at = "manual", decision.rearm_at
    record_changes(uow.s, principal, "alert", alert.id, alert.org_id, {"state": (old, "resolved")})
    uow.commit()
    return alert_view(alert)
