"""Reading captured activities: a deal's timeline and dynamics, one activity — private content only for its capturers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.access import Principal, can_read_content
from ..store import Activity, SentimentScore, utcnow
from ..store.activities import mailbox_owners
from ..store.sentiment import current_scores
from ..store.uow import UnitOfWork
from .dynamics import ENGAGEMENT_WINDOW, DealStats, deal_stats, engaged_contacts
from .errors import NotFoundError
from .access import load_visible

MAX_PAGE = 200


def serialize_activity(activity: Activity, *, show_content: bool, tone: SentimentScore | None) -> dict[str, Any]:
    """An activity for the API; without `show_content` only metadata (no subject, text, HTML or highlights)."""
    data: dict[str, Any] = {
        "id": activity.id,
        "kind": activity.kind,
        "direction": activity.direction,
        "occurred_at": activity.occurred_at.isoformat(),
        "ends_at": activity.ends_at.isoformat() if activity.ends_at else None,
        "sender_email": activity.sender_email,
        "participants": list(activity.participants or []),
        "opportunity_id": activity.opportunity_id,
        "account_id": activity.account_id,
        "link_method": activity.link_method,
        "needs_link_choice": activity.needs_link_choice,
        "link_candidates": list(activity.link_candidates or []),
        "is_private": activity.is_private,
        "content_hidden": not show_content,
        "tone": None,
    }
    if tone is not None:
        data["tone"] = {"label": tone.label, "score": tone.score, "confidence": tone.confidence, "model_version": tone.model_version}
    if show_content:
        data.update(
            subject=activity.subject,
            new_text=activity.new_text,
            quoted_text=activity.quoted_text,
            signature_text=activity.signature_text,
            body_html=activity.body_html,
            attachments=list(activity.attachments or []),
        )
        if tone is not None:
            data["tone"]["highlights"] = list(tone.highlights or [])
    return data


def _serialize_many(session: Session, principal: Principal, activities: list[Activity]) -> list[dict[str, Any]]:
    ids = [a.id for a in activities]
    owners = mailbox_owners(session, ids)
    tones = current_scores(session, ids)
    return [
        serialize_activity(a, show_content=can_read_content(principal, a.is_private, owners.get(a.id, set())), tone=tones.get(a.id))
        for a in activities
    ]


def opportunity_timeline(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, *, limit: int = 50, before: datetime | None = None
) -> dict[str, Any]:
    """The deal's emails and meetings, newest first (page with `before`); private content hidden from others."""
    opp = load_visible(uow.s, principal, opportunity_id)
    limit = max(1, min(MAX_PAGE, limit))
    query = select(Activity).where(Activity.opportunity_id == opp.id, Activity.org_id == opp.org_id)
    if before is not None:
        query = query.where(Activity.occurred_at < before)
    rows = list(uow.s.scalars(query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit + 1)))
    items = _serialize_many(uow.s, principal, rows[:limit])
    return {"items": items, "next_before": rows[limit - 1].occurred_at.isoformat() if len(rows) > limit else None}


def opportunity_dynamics(uow: UnitOfWork, principal: Principal, opportunity_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Inbound/outbound email counts, last inbound and outbound, meetings, and buyer contacts engaged in 30 days.

    Inbound means contact from the buyer as `services.dynamics` defines it (never automated mail, a meeting still
    in the future or one every buyer declined).
    """
    opp = load_visible(uow.s, principal, opportunity_id)
    now = now or utcnow()
    stats = deal_stats(uow.s, [opp.id], now).get(opp.id, DealStats())
    engaged = engaged_contacts(uow.s, opp.id, now, now - ENGAGEMENT_WINDOW)
    return {
        "opportunity_id": opp.id,
        "inbound_count": stats.inbound,
        "outbound_count": stats.outbound,
        "automated_count": stats.automated,
        "last_inbound_at": _iso(stats.last_inbound_at),
        "last_outbound_at": _iso(stats.last_outbound_at),
        "days_since_last_inbound": (now - stats.last_inbound_at).days if stats.last_inbound_at else None,
        "meetings_count": stats.meetings,
        "upcoming_meetings_count": stats.upcoming_meetings,
        "engaged_buyer_contacts": [
            {"contact_id": cid, "name": name, "email": email, "last_engaged_at": _iso(last)} for cid, name, email, last in engaged
        ],
        "engaged_buyer_count": len(engaged),
    }


def get_activity(uow: UnitOfWork, principal: Principal, activity_id: int) -> dict[str, Any]:
    """One activity if the caller may see it (its deal is visible, they captured it, or they are the org's admin)."""
    activity = uow.s.get(Activity, activity_id)
    if activity is None or activity.org_id != principal.org_id:
        raise NotFoundError(f"activity {activity_id} not found")
    owners = mailbox_owners(uow.s, [activity.id])[activity.id]
    visible = principal.is_admin or principal.user_id in owners
    if not visible and activity.opportunity_id is not None:
        try:
            load_visible(uow.s, principal, activity.opportunity_id)
            visible = True
        except NotFoundError:
            visible = False
    if not visible:
        raise NotFoundError(f"activity {activity_id} not found")
    tone = current_scores(uow.s, [activity.id]).get(activity.id)
    return serialize_activity(activity, show_content=can_read_content(principal, activity.is_private, owners), tone=tone)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
