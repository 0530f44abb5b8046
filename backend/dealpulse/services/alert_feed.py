"""Reading alerts as a person: the feed of alerts on deals the caller may see, the JSON shape of an alert, a deal's
health from its unresolved alerts, and a deal's health evaluated afresh with its reasons and skipped rules."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..domain.alert_rules import Thresholds, evaluate, skipped_rules
from ..domain.alert_state import UNRESOLVED
from ..domain.health import Health, Signal, health
from ..store import Alert, Opportunity, User, utcnow
from ..store.uow import UnitOfWork
from .alert_snapshots import in_chunks, load_contexts
from .errors import InvalidField
from .access import load_visible, visibility_clause

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_MARK = {"critical": "[critical]", "warning": "[warning]", "info": "[info]"}  # digest and webhook lines


def alert_view(alert: Alert, opp_name: str = "", owner_name: str = "") -> dict[str, Any]:
    """The JSON shape of an alert."""
    return {
        "id": alert.id, "opportunity_id": alert.opportunity_id, "opportunity": opp_name, "owner": owner_name,
        "rule": alert.rule, "state": alert.state, "severity": alert.severity, "reason": alert.reason,
        "evidence": dict(alert.evidence or {}), "opened_at": alert.opened_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolution": alert.resolution or None, "rearm_at": alert.rearm_at.isoformat() if alert.rearm_at else None,
    }


def most_urgent_first(alert: Alert) -> tuple[int, float]:
    """Sort key: the most severe alert first, then the newest."""
    return SEVERITY_ORDER.get(alert.severity, 3), -alert.opened_at.timestamp()


def alert_feed(
    uow: UnitOfWork, principal: Principal, state: str = "unresolved", opportunity_id: int | None = None,
    owner_id: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts on deals the principal may see, most severe and newest first."""
    states = {"unresolved": UNRESOLVED, "open": ("open",), "acknowledged": ("acknowledged",), "resolved": ("resolved",),
              "all": ("open", "acknowledged", "resolved")}.get(state)
    if states is None:
        raise InvalidField([{"field": "state", "message": "one of unresolved, open, acknowledged, resolved, all", "type": "enum"}])
    query = (
        select(Alert, Opportunity.name, User.name)
        .join(Opportunity, Opportunity.id == Alert.opportunity_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(visibility_clause(principal), Alert.state.in_(states))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if opportunity_id is not None:
        query = query.where(Alert.opportunity_id == opportunity_id)
    if owner_id is not None:
        query = query.where(Opportunity.owner_id == owner_id)
    rows = uow.s.execute(query).all()
    rows.sort(key=lambda r: most_urgent_first(r[0]))
    return [alert_view(a, opp, owner) for a, opp, owner in rows]


def health_of(alerts: Iterable[Any]) -> Health:
    """Health from a deal's unresolved alerts."""
    return health(Signal(a.rule, a.severity, a.reason) for a in alerts)


def health_by_opportunity(s: Session, opportunity_ids: Sequence[int]) -> dict[int, Health]:
    """Health of each deal from its unresolved alerts (deals without alerts score 100)."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for part in in_chunks(list(opportunity_ids)):
        for row in s.execute(select(Alert.opportunity_id, Alert.rule, Alert.severity, Alert.reason)
                             .where(Alert.opportunity_id.in_(part), Alert.state.in_(UNRESOLVED))):
            grouped[row.opportunity_id].append(row)
    healthy = health(())
    return {opp_id: health_of(grouped[opp_id]) if opp_id in grouped else healthy for opp_id in opportunity_ids}


def deal_health(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, now: datetime | None = None, *, alert_defaults: Thresholds
) -> dict[str, Any]:
    """A deal's health now: every rule evaluated afresh, with the reasons and rules that could not be evaluated."""
    now = now or utcnow()
    opp = load_visible(uow.s, principal, opportunity_id)
    contexts = load_contexts(uow.s, opp.org_id, now, [opp.id], alert_defaults=alert_defaults)
    ctx = contexts[0]
    findings = [f for f in evaluate(ctx.snapshot, ctx.thresholds, now).values() if f is not None]
    h = health(Signal(f.rule, f.severity, f.reason) for f in findings)
    return {
        "opportunity_id": opp.id, "score": h.score, "band": h.band, "evaluated_at": now.isoformat(),
        "reasons": [{"rule": f.rule, "severity": f.severity, "reason": f.reason, "evidence": f.evidence}
                    for f in sorted(findings, key=lambda f: [r.rule for r in h.reasons].index(f.rule))],
        "skipped": skipped_rules(ctx.snapshot),
    }
