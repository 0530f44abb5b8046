"""The deal around an email in the sidebar: its recent timeline and tone trend, its open alerts, the caller's
mailboxes and the organisation's stages. Statements are built once with bind parameters (the sidebar's hot path)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ..domain.access import Principal, can_read_content
from ..domain.alert_state import UNRESOLVED
from ..store import (
    Activity,
    Alert,
    Mailbox,
    SentimentScore,
    Stage,
    utcnow,
)
from ..store.activities import mailbox_owners
from .alert_feed import most_urgent_first
from .dynamics import DealStats, deal_stats, in_tone_trend

TREND_EMAILS = 10
RECENT_ITEMS = 8

_TONE_TREND = (
    select(Activity.occurred_at, SentimentScore.score, SentimentScore.label)
    .join(SentimentScore, SentimentScore.activity_id == Activity.id)
    .where(
        Activity.opportunity_id == bindparam("opportunity_id"),
        in_tone_trend(),
        SentimentScore.is_current.is_(True),
    )
    .order_by(Activity.occurred_at.desc())
    .limit(TREND_EMAILS)
)
_RECENT = (
    select(Activity.id, Activity.kind, Activity.direction, Activity.subject, Activity.occurred_at, Activity.is_private,
           SentimentScore.label)
    .outerjoin(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
    .where(Activity.opportunity_id == bindparam("opportunity_id"))
    .order_by(Activity.occurred_at.desc(), Activity.id.desc())
    .limit(RECENT_ITEMS)
)


def timeline(session: Session, principal: Principal, opportunity_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The deal's recent dynamics: inbound/outbound email counts, meetings, last inbound/outbound, tone trend."""
    deal = {"opportunity_id": opportunity_id}
    stats = deal_stats(session, [opportunity_id], now or utcnow()).get(opportunity_id, DealStats())
    trend_rows = session.execute(_TONE_TREND, deal).all()
    recent_rows = session.execute(_RECENT, deal).all()
    owners = mailbox_owners(session, [row.id for row in recent_rows if row.is_private])
    recent = []
    for row in recent_rows:
        readable = can_read_content(principal, row.is_private, owners.get(row.id, set()))
        recent.append({
            "id": row.id,
            "kind": row.kind,
            "direction": row.direction,
            "subject": row.subject if readable else "(private)",
            "occurred_at": row.occurred_at.isoformat(),
            "tone": row.label if row.direction == "inbound" else None,  # the buyer's tone, never the rep's own mail
        })
    return {
        "inbound": stats.inbound,
        "outbound": stats.outbound,
        "meetings": stats.meetings,
        "upcoming_meetings": stats.upcoming_meetings,
        "automated": stats.automated,
        "last_inbound_at": stats.last_inbound_at.isoformat() if stats.last_inbound_at else None,
        "last_outbound_at": stats.last_outbound_at.isoformat() if stats.last_outbound_at else None,
        "tone_trend": [
            {"occurred_at": at.isoformat(), "score": round(float(score), 4), "label": label}
            for at, score, label in reversed(trend_rows)
        ],
        "recent": recent,
    }


_OPEN_ALERTS = select(Alert).where(Alert.opportunity_id == bindparam("opportunity_id"),
                                   Alert.state.in_(UNRESOLVED))
_MY_MAILBOXES = (
    select(Mailbox.address, Mailbox.provider, Mailbox.sync_state, Mailbox.state_detail)
    .where(Mailbox.user_id == bindparam("user_id"))
    .order_by(Mailbox.id)
)
_STAGES = (
    select(Stage.key, Stage.name, Stage.is_closed)
    .where(Stage.org_id == bindparam("org_id"))
    .order_by(Stage.position, Stage.id)
)


def open_alerts(session: Session, opportunity_id: int) -> list[dict[str, Any]]:
    """The deal's unresolved alerts, most severe and newest first."""
    rows = session.scalars(_OPEN_ALERTS, {"opportunity_id": opportunity_id}).all()
    rows = sorted(rows, key=most_urgent_first)
    return [
        {"id": a.id, "rule": a.rule, "state": a.state, "severity": a.severity, "reason": a.reason,
         "opened_at": a.opened_at.isoformat()}
        for a in rows
    ]


def mailbox_status(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's connected mailboxes and their sync state (the pane warns when one is disconnected)."""
    rows = session.execute(_MY_MAILBOXES, {"user_id": principal.user_id})
    return [{"address": a, "provider": p, "state": state, "detail": detail} for a, p, state, detail in rows]


def stage_options(session: Session, org_id: int) -> list[dict[str, Any]]:
    """The organisation's stages in pipeline order (for the stage picker)."""
    rows = session.execute(_STAGES, {"org_id": org_id})
    return [{"key": key, "name": name, "is_closed": bool(closed)} for key, name, closed in rows]
