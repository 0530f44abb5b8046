"""Meeting outcomes: after a meeting with buyer participants has ended, the rep records how it went (positive,
neutral, negative), the next step and a short note. A meeting still without an outcome two days after it ended
is a gentle to-do, never a blocker."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import select

from ..domain.access import Principal
from ..store import Activity, MEETING_OUTCOMES, MeetingOutcome, Opportunity, User
from ..store.uow import UnitOfWork
from .audit import record_changes
from .errors import InvalidField, NotFoundError
from .access import load_visible, visibility_clause

TODO_AFTER = timedelta(days=2)


def _ended_at(activity: Activity) -> datetime:
    return activity.ends_at or activity.occurred_at


def has_buyer(activity: Activity, own_domain: str) -> bool:
    """True when someone outside the seller's domain was invited to the meeting."""
    return any(str(p.get("email", "")).rpartition("@")[2].lower() not in ("", own_domain)
               for p in activity.participants or [])


def outcome_view(row: MeetingOutcome, recorded_by: str | None) -> dict[str, Any]:
    """An outcome as the API and pages show it."""
    return {"activity_id": row.activity_id, "outcome": row.outcome, "next_step": row.next_step, "note": row.note,
            "recorded_by": recorded_by, "recorded_at": row.recorded_at.isoformat()}


def record_outcome(uow: UnitOfWork, principal: Principal, activity_id: int, values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Set (or change) the outcome of an ended meeting with the buyer on a deal the principal may change; audited."""
    s = uow.s
    activity = s.get(Activity, activity_id)
    if activity is None or activity.org_id != principal.org_id or activity.kind != "meeting" or activity.opportunity_id is None:
        raise NotFoundError(f"meeting {activity_id} not found")
    try:
        load_visible(s, principal, activity.opportunity_id, for_edit=True)
    except NotFoundError:
        raise NotFoundError(f"meeting {activity_id} not found") from None
    if values["outcome"] not in MEETING_OUTCOMES:
        raise InvalidField([{"field": "outcome", "message": f"one of {', '.join(MEETING_OUTCOMES)}", "type": "enum"}])
    if _ended_at(activity) > now:
        raise InvalidField([{"field": "activity_id", "message": "the meeting has not ended yet", "type": "value"}])
    if not has_buyer(activity, principal.email.rpartition("@")[2].lower()):
        raise InvalidField([{"field": "activity_id", "message": "no one from the buyer took part in this meeting", "type": "value"}])
    row = s.scalar(select(MeetingOutcome).where(MeetingOutcome.activity_id == activity.id))
    if row is None:
        row = MeetingOutcome(org_id=activity.org_id, activity_id=activity.id, outcome="", next_step="", note="")
        s.add(row)
    changes = {k: (getattr(row, k) or None, values[k]) for k in ("outcome", "next_step", "note") if getattr(row, k) != values[k]}
    for key, (_, new) in changes.items():
        setattr(row, key, new)
    row.recorded_by_id, row.recorded_at = principal.user_id, now
    s.flush()
    if changes:
        record_changes(s, principal, "meeting_outcome", row.id, row.org_id, changes)
    uow.commit()
    return outcome_view(row, s.scalar(select(User.name).where(User.id == principal.user_id)))


def outcomes_of(uow: UnitOfWork, activity_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The recorded outcome of each of the given meetings that has one."""
    if not activity_ids:
        return {}
    rows = uow.s.execute(select(MeetingOutcome, User.name).outerjoin(User, User.id == MeetingOutcome.recorded_by_id)
                         .where(MeetingOutcome.activity_id.in_(list(activity_ids)))).all()
    return {row.activity_id: outcome_view(row, name) for row, name in rows}


def awaiting_outcome(uow: UnitOfWork, principal: Principal, now: datetime, *, opportunity_id: int | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """Meetings with the buyer on deals the principal may see that ended more than two days ago without an outcome
    (the gentle to-do), oldest first."""
    query = (
        select(Activity, Opportunity.name).join(Opportunity, Opportunity.id == Activity.opportunity_id)
        .outerjoin(MeetingOutcome, MeetingOutcome.activity_id == Activity.id)
        .where(Activity.kind == "meeting", MeetingOutcome.id.is_(None), Activity.occurred_at <= now - TODO_AFTER,
               visibility_clause(principal))
        .order_by(Activity.occurred_at, Activity.id).limit(limit * 2)
    )
    if opportunity_id is not None:
        query = query.where(Activity.opportunity_id == opportunity_id)
    own = principal.email.rpartition("@")[2].lower()
    out = []
    for activity, deal in uow.s.execute(query):
        if _ended_at(activity) <= now - TODO_AFTER and has_buyer(activity, own):
            out.append({"activity_id": activity.id, "opportunity_id": activity.opportunity_id, "opportunity": deal,
                        "subject": "(private)" if activity.is_private else activity.subject, "ended_at": _ended_at(activity).isoformat()})
    return out[:limit]
