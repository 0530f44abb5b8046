"""Access rules in one place (the rules themselves are pure, in `domain.access`; this module applies them to rows).

Deals: which a principal may see or change, one deal (no existence leak) or a WHERE clause for many. Activities: who
may see one (the reps whose mailbox captured it, and whoever may see its opportunity) and who may read its content
(private activities: only the reps whose mailbox captured them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..domain.access import Principal, can_edit_deal, can_read_content, can_see_deal
from ..store import Activity, Opportunity, User
from ..store.activities import mailbox_owners
from .errors import NotFoundError, PermissionDenied


def _owner_team(session: Session, owner_id: int) -> int | None:
    return session.scalar(select(User.team_id).where(User.id == owner_id))


def load_visible(session: Session, principal: Principal, opportunity_id: int, *, for_edit: bool = False) -> Opportunity:
    """The opportunity if the principal may see (or edit) it; otherwise NotFoundError (no existence leak)."""
    opp = session.get(Opportunity, opportunity_id)
    if opp is None or opp.org_id != principal.org_id:
        raise NotFoundError(f"opportunity {opportunity_id} not found")
    team_id = _owner_team(session, opp.owner_id)
    if not can_see_deal(principal, opp.org_id, opp.owner_id, team_id):
        raise NotFoundError(f"opportunity {opportunity_id} not found")
    if for_edit and not can_edit_deal(principal, opp.org_id, opp.owner_id, team_id):
        raise PermissionDenied("you may not change this opportunity")
    return opp


def visibility_clause(principal: Principal) -> Any:
    """A WHERE clause restricting opportunities to those the principal may see."""
    clause = Opportunity.org_id == principal.org_id
    if principal.is_admin:
        return clause
    if principal.role == "manager" and principal.managed_team_ids:
        team_owner_ids = select(User.id).where(User.team_id.in_(principal.managed_team_ids))
        return and_(clause, or_(Opportunity.owner_id == principal.user_id, Opportunity.owner_id.in_(team_owner_ids)))
    return and_(clause, Opportunity.owner_id == principal.user_id)


def deal_visible(session: Session, principal: Principal, opportunity_id: int | None) -> bool:
    """True if the opportunity exists and the principal may see it."""
    if opportunity_id is None:
        return False
    row = session.execute(
        select(Opportunity.org_id, Opportunity.owner_id, User.team_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(Opportunity.id == opportunity_id)
    ).first()
    return row is not None and can_see_deal(principal, row[0], row[1], row[2])


def can_see_activity(session: Session, principal: Principal, activity: Activity, owners: set[int] | None = None) -> bool:
    """Captured by the principal's mailbox, or linked to a deal the principal may see."""
    if activity.org_id != principal.org_id:
        return False
    owners = mailbox_owners(session, [activity.id])[activity.id] if owners is None else owners
    return principal.user_id in owners or principal.is_admin or deal_visible(session, principal, activity.opportunity_id)


def visible_activity(session: Session, principal: Principal, activity_id: int) -> tuple[Activity, set[int]]:
    """The activity and its mailbox owners if the principal may see it; NotFoundError otherwise (no leak)."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFoundError(f"activity {activity_id} not found")
    owners = mailbox_owners(session, [activity.id])[activity.id]
    if not can_see_activity(session, principal, activity, owners):
        raise NotFoundError(f"activity {activity_id} not found")
    return activity, owners


def content_readable(principal: Principal, activity: Activity, owners: set[int]) -> bool:
    """True if the principal may read the activity's content (not just its metadata)."""
    return can_read_content(principal, activity.is_private, owners)
