"""Which deals a principal may see or change: one deal (no existence leak) or a WHERE clause for many."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..domain.access import Principal, can_edit_deal, can_see_deal
from ..store import Opportunity, User
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
