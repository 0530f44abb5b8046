"""A deal's activity dynamics, defined once: what counts as contact from the buyer, counts, last inbound, engagement.

Contact from the buyer is an inbound email or a meeting with the buyer that has started, unless it is automated
mail (out-of-office, receipts, auto-replies, mailing lists) or a meeting every buyer declined (see
`Activity.contact_exclusion`); cancelled meetings are not stored. The sidebar, the dashboard, the API and the
alert rules all read these numbers from here, so "last inbound" is one figure everywhere and never in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from ..store import Activity, ActivityContact, Contact

ENGAGEMENT_WINDOW = timedelta(days=30)


def buyer_contact(now: datetime) -> Any:
    """SQL condition: the activity is contact from the buyer that has already happened."""
    return and_(Activity.direction == "inbound", Activity.contact_exclusion == "", Activity.occurred_at <= now)


def in_tone_trend() -> Any:
    """SQL condition: the activity is an email the buyer wrote (its tone belongs in the trend)."""
    return and_(Activity.kind == "email", Activity.direction == "inbound", Activity.contact_exclusion == "")


def engaged_contact(now: datetime, since: datetime) -> Any:
    """SQL condition on Activity joined with ActivityContact: the contact wrote to us or met us between `since` and now."""
    return and_(
        buyer_contact(now), Activity.occurred_at >= since,
        or_(and_(Activity.kind == "email", ActivityContact.role == "from"), Activity.kind == "meeting"),
    )


def last_inbound_select(now: datetime, *where: Any) -> Any:
    """SELECT opportunity_id AS opp_id, the latest buyer contact AS last_at, per deal (narrowed by `where`)."""
    return (
        select(Activity.opportunity_id.label("opp_id"), func.max(Activity.occurred_at).label("last_at"))
        .where(*where, buyer_contact(now))
        .group_by(Activity.opportunity_id)
    )


@dataclass(frozen=True)
class DealStats:
    """A deal's activity numbers as of `now`."""

    inbound: int = 0  # emails from the buyer (automated mail excluded)
    outbound: int = 0  # emails to the buyer
    meetings: int = 0  # meetings held with the buyer
    upcoming_meetings: int = 0
    automated: int = 0  # automated inbound mail (stored, never buyer contact)
    last_inbound_at: datetime | None = None
    last_outbound_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The numbers as a plain dict (datetimes left as they are)."""
        return dict(self.__dict__)


def deal_stats(session: Session, opportunity_ids: Iterable[int] | Any, now: datetime) -> dict[int, DealStats]:
    """Per deal: email counts, meetings held and planned, automated mail, last inbound and outbound (one query).

    `opportunity_ids` is a list of ids or a SELECT of them.
    """
    ids = opportunity_ids if hasattr(opportunity_ids, "subquery") else list(opportunity_ids)
    if isinstance(ids, list) and not ids:
        return {}
    # Counts are as of `now` (a snapshot of an earlier day ignores what came after it); meetings after it are upcoming.
    email, meeting = and_(Activity.kind == "email", Activity.occurred_at <= now), Activity.kind == "meeting"
    sent = and_(email, Activity.direction == "outbound")
    rows = session.execute(
        select(
            Activity.opportunity_id,
            func.sum(case((and_(email, Activity.direction == "inbound", Activity.contact_exclusion == ""), 1), else_=0)),
            func.sum(case((sent, 1), else_=0)),
            func.sum(case((and_(meeting, buyer_contact(now)), 1), else_=0)),
            func.sum(case((and_(meeting, Activity.occurred_at > now), 1), else_=0)),
            func.sum(case((and_(Activity.direction == "inbound", Activity.contact_exclusion != "", email), 1), else_=0)),
            func.max(case((buyer_contact(now), Activity.occurred_at), else_=None)),
            func.max(case((and_(sent, Activity.occurred_at <= now), Activity.occurred_at), else_=None)),
        )
        .where(Activity.opportunity_id.in_(ids))
        .group_by(Activity.opportunity_id)
    ).all()
    return {
        opp: DealStats(int(i or 0), int(o or 0), int(m or 0), int(u or 0), int(a or 0), li, lo)
        for opp, i, o, m, u, a, li, lo in rows
    }


def engaged_contacts(session: Session, opportunity_id: int, now: datetime, since: datetime | None = None,
                     contact_ids: Iterable[int] | None = None) -> list[tuple[int, str, str, datetime]]:
    """(contact id, name, email, last engaged) of the buyer contacts who wrote or met since `since`, latest first."""
    query = (
        select(Contact.id, Contact.name, Contact.email, func.max(Activity.occurred_at))
        .join(ActivityContact, ActivityContact.contact_id == Contact.id)
        .join(Activity, Activity.id == ActivityContact.activity_id)
        .where(Activity.opportunity_id == opportunity_id,
               engaged_contact(now, since if since is not None else datetime.min.replace(tzinfo=now.tzinfo)))
        .group_by(Contact.id, Contact.name, Contact.email)
        .order_by(func.max(Activity.occurred_at).desc(), Contact.id)
    )
    if contact_ids is not None:
        query = query.where(Contact.id.in_(list(contact_ids)))
    return [(cid, name, email, last) for cid, name, email, last in session.execute(query)]
