"""Hand-built deal histories: deals with stage transitions, close dates, forecast calls and closes at given moments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from dealpulse.services.audit import record_changes
from dealpulse.store import BuyingTeamMember, Opportunity, Stage, StageTransition, User


def stage_ids(uow, org_id: int) -> dict[str, int]:
    return {k: i for k, i in uow.s.execute(select(Stage.key, Stage.id).where(Stage.org_id == org_id))}


def add_deal(uow, org_id: int, account_id: int, owner_id: int, path: list[tuple[str, datetime]], *, amount: float,
             close_date, category: str = "pipeline", closed: tuple[str, datetime] | None = None,
             roles: list[tuple[int, str, datetime]] = (), currency: str = "USD") -> int:
    """A deal that entered each stage of `path` at its moment, optionally closed (stage key, moment)."""
    stages = stage_ids(uow, org_id)
    final_key, final_at = closed if closed else path[-1]
    opp = Opportunity(org_id=org_id, account_id=account_id, owner_id=owner_id, stage_id=stages[final_key],
                      name=f"deal {len(path)} {final_key} {final_at:%Y%m%d%H%M%S%f}", amount=Decimal(str(amount)),
                      currency=currency, close_date=close_date, probability=0, stage_entered_at=final_at,
                      created_at=path[0][1], updated_at=final_at, closed_at=closed[1] if closed else None,
                      forecast_category=category, version=1)
    uow.s.add(opp)
    uow.s.flush()
    previous = None
    for key, at in path + ([closed] if closed else []):
        uow.s.add(StageTransition(opportunity_id=opp.id, from_stage_id=previous, to_stage_id=stages[key], at=at))
        previous = stages[key]
    for contact_id, role, at in roles:
        uow.s.add(BuyingTeamMember(opportunity_id=opp.id, contact_id=contact_id, role=role, added_at=at))
    uow.s.flush()
    return opp.id


def audit(uow, org_id: int, opp_id: int, at: datetime, changes: dict) -> None:
    record_changes(uow.s, None, "opportunity", opp_id, org_id, changes, surface="import", changed_at=at)


def first_user(uow, org_id: int, role: str = "rep") -> int:
    return uow.s.scalar(select(User.id).where(User.org_id == org_id, User.role == role).order_by(User.id))
