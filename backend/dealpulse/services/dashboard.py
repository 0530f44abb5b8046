"""Queries behind the manager dashboard: the pipeline and its chart series (one deal's page is `deal_page`, the
per-rep review agenda `review_agenda`).

Everything is scoped by `visibility_clause` (a rep sees their own deals, a manager their teams', an admin the
organisation's); private activities show metadata only to anyone but the reps whose mailbox captured them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Select, and_, func, select

from ..domain.access import Principal
from ..store import (
    Account,
    Activity,
    Alert,
    Opportunity,
    SentimentScore,
    Stage,
    User,
    utcnow,
)
from ..store.uow import UnitOfWork
from ..domain.alert_state import UNRESOLVED
from .alert_feed import health_by_opportunity
from .dynamics import deal_stats, in_tone_trend
from .errors import InvalidField
from .access import visibility_clause

SORT_KEYS = ("health", "amount", "close_date", "last_inbound", "name", "stage", "owner")
SPARK_POINTS = 10


@dataclass(frozen=True)
class PipelineFilters:
    """Filters and sorting of the pipeline table."""

    stage: str | None = None
    owner_id: int | None = None
    q: str | None = None
    band: str | None = None  # good | watch | at_risk
    sort: str = "health"
    descending: bool = False

    def validated(self) -> "PipelineFilters":
        """Self, or InvalidField naming the bad filter."""
        errors = []
        if self.sort not in SORT_KEYS:
            errors.append({"field": "sort", "message": f"one of {', '.join(SORT_KEYS)}", "type": "enum"})
        if self.band not in (None, "", "good", "watch", "at_risk"):
            errors.append({"field": "band", "message": "one of good, watch, at_risk", "type": "enum"})
        if errors:
            raise InvalidField(errors)
        return self


def _visible_open_deals(principal: Principal) -> Any:
    return (
        select(Opportunity.id)
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(visibility_clause(principal), Stage.is_closed.is_(False))
    )


def activity_stats(
    uow: UnitOfWork, opportunity_ids: Sequence[int] | Select[tuple[int]], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """Per deal: inbound and outbound counts, meetings, last inbound/outbound (`opportunity_ids`: ids or a select)."""
    return {opp: stats.as_dict() for opp, stats in deal_stats(uow.s, opportunity_ids, now or utcnow()).items()}


def tone_series(uow: UnitOfWork, opportunity_ids: Sequence[int], points: int = SPARK_POINTS) -> dict[int, list[float]]:
    """The last `points` current inbound tone scores of each deal, oldest first."""
    if not opportunity_ids:
        return {}
    ranked = (
        select(
            Activity.opportunity_id.label("opp_id"), Activity.occurred_at, SentimentScore.score,
            func.row_number().over(partition_by=Activity.opportunity_id, order_by=Activity.occurred_at.desc()).label("rn"),
        )
        .join(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
        .where(Activity.opportunity_id.in_(list(opportunity_ids)), in_tone_trend())
        .subquery()
    )
    out: dict[int, list[float]] = defaultdict(list)
    for opp_id, _, score in uow.s.execute(
        select(ranked.c.opp_id, ranked.c.occurred_at, ranked.c.score).where(ranked.c.rn <= points)
        .order_by(ranked.c.opp_id, ranked.c.occurred_at)
    ):
        out[opp_id].append(float(score))
    return out


def pipeline(uow: UnitOfWork, principal: Principal, filters: PipelineFilters, *, page: int = 1, per_page: int = 200) -> dict[str, Any]:
    """Every open deal the principal may see with stage, amount, close date, health and top reason, activity counts."""
    filters = filters.validated()
    s = uow.s
    query = (
        select(Opportunity.id, Opportunity.name, Opportunity.owner_id, Opportunity.amount, Opportunity.currency,
               Opportunity.close_date, Stage.key, Stage.name, Stage.position, User.name, Account.name)
        .join(Stage, Stage.id == Opportunity.stage_id)
        .join(User, User.id == Opportunity.owner_id)
        .join(Account, Account.id == Opportunity.account_id)
        .where(visibility_clause(principal), Stage.is_closed.is_(False))
    )
    if filters.stage:
        query = query.where(Stage.key == filters.stage)
    if filters.owner_id is not None:
        query = query.where(Opportunity.owner_id == filters.owner_id)
    if filters.q:
        query = query.where(func.lower(Opportunity.name).contains(filters.q.lower().strip()))
    rows = s.execute(query).all()
    ids = [r[0] for r in rows]
    health = health_by_opportunity(s, ids)
    # Activity counts for every deal only when sorting by them; otherwise just for the page shown.
    stats = activity_stats(uow, _visible_open_deals(principal)) if ids and filters.sort == "last_inbound" else {}
    deals = []
    for opp_id, name, owner_id, amount, currency, close_at, stage_key, stage_name, stage_pos, owner_name, account_name in rows:
        h = health[opp_id]
        if filters.band and h.band != filters.band:
            continue
        st = stats.get(opp_id, {})
        deals.append({
            "id": opp_id, "name": name, "account": account_name, "owner": owner_name, "owner_id": owner_id,
            "stage": stage_name, "stage_key": stage_key, "stage_position": stage_pos, "amount": float(amount),
            "currency": currency, "close_date": close_at, "health": h.score, "band": h.band,
            "top_reason": h.top_reason, "reasons": [r.reason for r in h.reasons],
            "inbound": st.get("inbound", 0), "outbound": st.get("outbound", 0), "last_inbound_at": st.get("last_inbound_at"),
        })
    deals.sort(key=_sorter(filters.sort), reverse=filters.descending)
    total = len(deals)
    page = max(1, page)
    shown = deals[(page - 1) * per_page : page * per_page]
    shown_ids = [d["id"] for d in shown]
    sparks = tone_series(uow, shown_ids)
    if filters.sort != "last_inbound" and shown_ids:
        stats = activity_stats(uow, shown_ids)
    for d in shown:
        d["tone"] = sparks.get(d["id"], [])
        st = stats.get(d["id"], {})
        d.update(inbound=st.get("inbound", 0), outbound=st.get("outbound", 0), last_inbound_at=st.get("last_inbound_at"))
    return {"deals": shown, "total": total, "page": page, "pages": max(1, -(-total // per_page)),
            "by_stage": _by_stage(deals), "owners": visible_owners(s, principal),
            "stages": s.execute(select(Stage.key, Stage.name).where(Stage.org_id == principal.org_id, Stage.is_closed.is_(False))
                                .order_by(Stage.position)).all()}


def _sorter(key: str) -> Any:
    far = datetime.max.replace(tzinfo=None)
    return {
        "health": lambda d: (d["health"], d["currency"], -d["amount"]),
        # Without exchange rates amounts compare only within a currency: deals are grouped by it.
        "amount": lambda d: (d["currency"], d["amount"]),
        "close_date": lambda d: (d["close_date"] is None, d["close_date"] or far.date()),
        "last_inbound": lambda d: d["last_inbound_at"].replace(tzinfo=None) if d["last_inbound_at"] else datetime.min,
        "name": lambda d: d["name"].lower(),
        "stage": lambda d: (d["stage_position"], d["name"].lower()),
        "owner": lambda d: (d["owner"].lower(), d["name"].lower()),
    }[key]


def _by_stage(deals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pipeline by stage (for the chart): deal count, amount per currency (never added across), mean health."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for d in deals:
        groups[(d["stage_position"], d["stage"])].append(d)
    out = []
    for (_, name), items in sorted(groups.items()):
        amounts: dict[str, float] = defaultdict(float)
        for i in items:
            amounts[i["currency"]] += i["amount"]
        out.append({"stage": name, "count": len(items), "health": round(sum(i["health"] for i in items) / len(items)),
                    "amounts": [{"currency": c, "amount": a} for c, a in sorted(amounts.items())]})
    return out


def visible_owners(s: Any, principal: Principal) -> list[dict[str, Any]]:
    """People whose deals the principal may see (the owner filter)."""
    owner_ids = select(Opportunity.owner_id).where(visibility_clause(principal)).distinct()
    return [{"id": i, "name": n} for i, n in s.execute(select(User.id, User.name).where(User.id.in_(owner_ids)).order_by(User.name))]


def unresolved_count(uow: UnitOfWork, principal: Principal) -> int:
    """Unresolved alerts on deals the principal may see (the navigation badge)."""
    return uow.s.scalar(
        select(func.count()).select_from(Alert).join(Opportunity, Opportunity.id == Alert.opportunity_id)
        .where(visibility_clause(principal), Alert.state.in_(UNRESOLVED))
    ) or 0
