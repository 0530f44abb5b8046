"""The per-rep review agenda of a manager's one-to-one: the rep's problem deals (risk x size within its currency)
and the open pipeline per currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import select

from ..domain.access import Principal, can_see_deal
from ..domain.health import agenda_priority, relative_sizes
from ..store import (
    Opportunity,
    Stage,
    User,
)
from ..store.uow import UnitOfWork
from .alert_feed import health_by_opportunity
from .errors import NotFoundError
from .access import visibility_clause
from .dashboard import visible_owners

def review_agenda(uow: UnitOfWork, principal: Principal, rep_id: int, count: int = 3) -> dict[str, Any]:
    """The `count` problem deals of one rep to discuss, by risk x size, with their reasons and totals per currency.

    Size compares a deal's amount only with the rep's other open deals in the same currency (`relative_sizes`):
    there is no exchange-rate source, so amounts in different currencies are neither added up nor ranked raw.
    """
    s = uow.s
    rep = s.get(User, rep_id)
    if rep is None or not can_see_deal(principal, rep.org_id, rep.id, rep.team_id):
        raise NotFoundError(f"rep {rep_id} not found")
    rows = s.execute(
        select(Opportunity, Stage.name).join(Stage, Stage.id == Opportunity.stage_id)
        .where(Opportunity.owner_id == rep.id, Stage.is_closed.is_(False), visibility_clause(principal))
    ).all()
    health = health_by_opportunity(s, [o.id for o, _ in rows])
    sizes = relative_sizes({o.id: (o.currency, float(o.amount)) for o, _ in rows})
    ranked = sorted(
        ((agenda_priority(health[o.id], sizes[o.id]), o, stage) for o, stage in rows), key=lambda r: (-r[0], r[1].id)
    )
    chosen = [(priority, o, stage) for priority, o, stage in ranked if priority > 0][:count]
    deals = [
        {"opportunity_id": o.id, "name": o.name, "amount": str(o.amount), "currency": o.currency, "stage": stage,
         "health": health[o.id].score, "priority": round(priority, 2), "relative_size": round(sizes[o.id], 2),
         "reasons": [r.reason for r in health[o.id].reasons]}
        for priority, o, stage in chosen
    ]
    return {"rep": {"id": rep.id, "name": rep.name, "email": rep.email}, "deals": deals,
            "by_currency": _totals_by_currency([o for o, _ in rows], {o.id for _, o, _ in chosen})}


def _totals_by_currency(open_deals: Sequence[Opportunity], on_agenda: set[int]) -> list[dict[str, Any]]:
    """Per currency: how many open deals, their amount, and the amount of those on the agenda (exact decimals)."""
    totals: dict[str, dict[str, Any]] = {}
    for o in open_deals:
        t = totals.setdefault(o.currency, {"currency": o.currency, "open_deals": 0, "open_amount": Decimal(0),
                                           "agenda_amount": Decimal(0)})
        t["open_deals"] += 1
        t["open_amount"] += o.amount
        if o.id in on_agenda:
            t["agenda_amount"] += o.amount
    return [{**t, "open_amount": str(t["open_amount"]), "agenda_amount": str(t["agenda_amount"])}
            for _, t in sorted(totals.items())]


def reps_for_agenda(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The reps whose one-to-ones the principal can run (themselves for a rep)."""
    owners = visible_owners(uow.s, principal)
    return owners or [{"id": principal.user_id, "name": principal.email}]
