"""Queries behind the manager dashboard: the pipeline, one deal's page, the per-rep review agenda, chart series.

Everything is scoped by `visibility_clause` (a rep sees their own deals, a manager their teams', an admin the
organisation's); private activities show metadata only to anyone but the reps whose mailbox captured them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import Select, and_, func, select

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal, can_read_content, can_see_deal
from ..domain.alert_rules import skipped_rules
from ..domain.health import agenda_priority, relative_sizes
from ..domain.tone_reading import read_tone
from ..store import (
    Account,
    Activity,
    ActivityNote,
    Alert,
    AuditEntry,
    Opportunity,
    Rating,
    SentimentScore,
    Stage,
    User,
    utcnow,
)
from ..store.crm import BUYING_ROLES
from ..store.activities import mailbox_owners
from ..store.sentiment import current_scores
from ..store.uow import UnitOfWork
from ..domain.alert_state import UNRESOLVED
from .alert_feed import alert_view, health_by_opportunity
from .alert_snapshots import load_contexts
from .audit import history
from .dynamics import DealStats, deal_stats, in_tone_trend
from .errors import InvalidField, NotFoundError
from .access import load_visible, visibility_clause
from .opportunity_views import buying_team, exit_checklist
from .sidebar import deal_options

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
            "by_stage": _by_stage(deals), "owners": _owners(s, principal),
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


def _owners(s: Any, principal: Principal) -> list[dict[str, Any]]:
    """People whose deals the principal may see (the owner filter)."""
    owner_ids = select(Opportunity.owner_id).where(visibility_clause(principal)).distinct()
    return [{"id": i, "name": n} for i, n in s.execute(select(User.id, User.name).where(User.id.in_(owner_ids)).order_by(User.name))]


def deal_page(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, *, alert_defaults: Thresholds, now: datetime | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """One deal: header facts, health and alerts, timeline with tone, ratings and notes, charts, audit history."""
    now = now or utcnow()
    s = uow.s
    opp = load_visible(s, principal, opportunity_id)
    stage = s.get(Stage, opp.stage_id)
    owner = s.get(User, opp.owner_id)
    account = s.get(Account, opp.account_id)
    alerts = s.scalars(select(Alert).where(Alert.opportunity_id == opp.id).order_by(Alert.opened_at.desc()).limit(50)).all()
    health = health_by_opportunity(s, [opp.id])[opp.id]
    activities = s.scalars(
        select(Activity).where(Activity.opportunity_id == opp.id).order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit)
    ).all()
    ids = [a.id for a in activities]
    owners = mailbox_owners(s, ids)
    scores = current_scores(s, ids)
    ratings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    notes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for rating in s.scalars(select(Rating).where(Rating.activity_id.in_(ids)).order_by(Rating.updated_at)):
            ratings[rating.activity_id].append({"label": rating.label, "note": rating.note})
        for note, name in s.execute(select(ActivityNote, User.name).join(User, User.id == ActivityNote.author_id)
                                    .where(ActivityNote.activity_id.in_(ids)).order_by(ActivityNote.created_at)):
            notes[note.activity_id].append({"author": name, "text": note.text, "at": note.created_at})
    timeline = []
    for a in activities:
        readable = can_read_content(principal, a.is_private, owners.get(a.id, set()))
        mine = principal.user_id in owners.get(a.id, set())
        score = scores.get(a.id)
        timeline.append({
            "id": a.id, "kind": a.kind, "direction": a.direction, "occurred_at": a.occurred_at, "private": a.is_private,
            "contact_exclusion": a.contact_exclusion, "upcoming": a.occurred_at > now, "thread_key": a.thread_key,
            "mine": mine,
            "readable": readable, "subject": a.subject if readable else "", "text": a.new_text if readable else "",
            "sender": a.sender_email if readable else "",
            # The buyer's tone only: the rep's own outbound mail shows none.
            "tone": None if score is None or a.direction != "inbound" else {
                "label": score.label, "score": float(score.score),
                "reading": read_tone(score.label, score.confidence, score.probabilities).as_dict()},
            "ratings": ratings.get(a.id, []) if readable else [], "notes": notes.get(a.id, []) if readable else [],
        })
    snapshot = load_contexts(s, opp.org_id, now, [opp.id], alert_defaults=alert_defaults)[0]
    stats = deal_stats(s, [opp.id], now).get(opp.id, DealStats())
    return {
        "dynamics": stats,
        "not_evaluated": skipped_rules(snapshot.snapshot, snapshot.thresholds),
        "buying_team": buying_team(s, opp, now),
        "deal_options": deal_options(s, principal, opp.account_id, opp.id),
        "buying_roles": list(BUYING_ROLES),
        "deal": {"id": opp.id, "name": opp.name, "account": account.name if account else "", "owner": owner.name if owner else "",
                 "stage": stage.name, "amount": float(opp.amount), "currency": opp.currency, "close_date": opp.close_date,
                 "probability": opp.probability, "next_step": opp.next_step, "stage_entered_at": opp.stage_entered_at,
                 "close_date_pushes": opp.close_date_pushes, "version": opp.version},
        "health": health, "alerts": [alert_view(a, opp.name) for a in alerts], "timeline": timeline,
        "exit_questions": exit_checklist(s, opp),
        "tone": [(a["occurred_at"], a["tone"]["score"]) for a in reversed(timeline)
                 if a["tone"] and a["kind"] == "email" and a["direction"] == "inbound" and not a["contact_exclusion"]],
        "weekly": weekly_counts(timeline, now),
        "history": _with_alert_history(s, opp.org_id, history(s, opp.org_id, "opportunity", opp.id), alerts)[:50],
    }


def _with_alert_history(s: Any, org_id: int, entries: list[dict[str, Any]], alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """The deal's audit entries plus who acknowledged or resolved its alerts, newest first."""
    rules = {a.id: a.rule for a in alerts}
    if rules:
        rows = s.execute(
            select(AuditEntry, User.name, User.email).outerjoin(User, User.id == AuditEntry.actor_id)
            .where(AuditEntry.org_id == org_id, AuditEntry.entity_type == "alert", AuditEntry.entity_id.in_(list(rules)))
        ).all()
        for entry, name, email in rows:
            entries.append({
                "field": f"alert: {rules[entry.entity_id].replace('_', ' ')}",
                "old": json.loads(entry.old_value) if entry.old_value else None,
                "new": json.loads(entry.new_value) if entry.new_value else None,
                "actor": {"id": entry.actor_id, "name": name, "email": email} if entry.actor_id else None,
                "surface": entry.surface, "version": None, "change_id": entry.change_id, "changed_at": entry.changed_at.isoformat(),
            })
    return sorted(entries, key=lambda e: e["changed_at"], reverse=True)


def weekly_counts(timeline: Sequence[dict[str, Any]], now: datetime, weeks: int = 12) -> list[dict[str, Any]]:
    """Inbound and outbound activities per week for the last `weeks` weeks, oldest first."""
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=weeks - 1)
    buckets = [{"week": start + timedelta(weeks=i), "inbound": 0, "outbound": 0} for i in range(weeks)]
    for item in timeline:
        index = int((item["occurred_at"] - start).total_seconds() // (7 * 86400))
        if 0 <= index < weeks and item["direction"] in ("inbound", "outbound"):
            buckets[index][item["direction"]] += 1
    return buckets


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
    owners = _owners(uow.s, principal)
    return owners or [{"id": principal.user_id, "name": principal.email}]


def unresolved_count(uow: UnitOfWork, principal: Principal) -> int:
    """Unresolved alerts on deals the principal may see (the navigation badge)."""
    return uow.s.scalar(
        select(func.count()).select_from(Alert).join(Opportunity, Opportunity.id == Alert.opportunity_id)
        .where(visibility_clause(principal), Alert.state.in_(UNRESOLVED))
    ) or 0
