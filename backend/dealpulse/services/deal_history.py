"""A deal's state on any past day, rebuilt from the stage history and the audit log, and the daily pipeline snapshots.

`DealHistory.load` reads an organisation's deals, stage transitions and audited field changes once; `states_at(at)`
then gives every deal that was open at that moment with the stage, amount, close date, forecast category and
probability it had then (never a later value). The daily task stores those states as `PipelineSnapshot` rows, and
`backfill_snapshots` writes the same rows for past days; `pipeline_on` reads a day's snapshot, rebuilding it when none
was stored.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ..store import AuditEntry, Opportunity, PipelineSnapshot, Stage, StageTransition
from ..store.uow import UnitOfWork

TRACKED_FIELDS = ("amount", "close_date", "probability", "forecast_category")


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day` (a snapshot describes the deal at that moment)."""
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


@dataclass(frozen=True)
class StageInfo:
    """What the history needs of a stage."""

    id: int
    key: str
    name: str
    position: int
    probability: int
    is_closed: bool
    is_won: bool


@dataclass(frozen=True)
class DealState:
    """One deal as it stood at `at`."""

    opportunity_id: int
    owner_id: int
    stage: StageInfo
    amount: float
    currency: str
    close_date: date | None
    forecast_category: str
    probability: int
    created_at: datetime
    stage_entered_at: datetime
    close_date_pushes: int


@dataclass(frozen=True)
class Outcome:
    """How a closed deal ended (as it stands now)."""

    won: bool
    closed_at: datetime
    amount: float
    currency: str


def _decode(field: str, raw: str | None) -> Any:
    if raw is None:
        return None
    value = json.loads(raw)
    if value is None:
        return None
    if field == "amount":
        return float(Decimal(str(value)))
    if field == "close_date":
        return date.fromisoformat(str(value)[:10])
    if field == "probability":
        return int(value)
    return str(value)


@dataclass
class _Deal:
    id: int
    owner_id: int
    stage_id: int
    amount: float
    currency: str
    close_date: date | None
    forecast_category: str
    probability: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    pushes_now: int


class DealHistory:
    """An organisation's deals with their stage transitions and audited field changes, read once."""

    def __init__(self, org_id: int, stages: dict[int, StageInfo], deals: dict[int, _Deal],
                 transitions: dict[int, list[tuple[datetime, int]]],
                 changes: dict[tuple[int, str], list[tuple[datetime, Any, Any]]]):
        self.org_id = org_id
        self.stages = stages
        self.deals = deals
        self.transitions = transitions
        self.changes = changes

    @classmethod
    def load(cls, session: Session, org_id: int, opportunity_ids: Sequence[int] | None = None) -> "DealHistory":
        """Read the organisation's deals (or only `opportunity_ids`) with their history."""
        stages = {
            row.id: StageInfo(row.id, row.key, row.name, row.position, row.probability, bool(row.is_closed), bool(row.is_won))
            for row in session.execute(select(Stage.id, Stage.key, Stage.name, Stage.position, Stage.probability,
                                              Stage.is_closed, Stage.is_won).where(Stage.org_id == org_id))
        }
        query = select(Opportunity.id, Opportunity.owner_id, Opportunity.stage_id, Opportunity.amount, Opportunity.currency,
                       Opportunity.close_date, Opportunity.forecast_category, Opportunity.probability,
                       Opportunity.created_at, Opportunity.updated_at, Opportunity.closed_at,
                       Opportunity.close_date_pushes).where(Opportunity.org_id == org_id)
        ids = list(opportunity_ids) if opportunity_ids is not None else None
        if ids is not None:
            query = query.where(Opportunity.id.in_(ids))
        deals = {
            r.id: _Deal(r.id, r.owner_id, r.stage_id, float(r.amount or 0), r.currency, r.close_date,
                        r.forecast_category or "pipeline", r.probability or 0, r.created_at, r.updated_at, r.closed_at,
                        r.close_date_pushes or 0)
            for r in session.execute(query)
        }
        transitions: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        tq = (select(StageTransition.opportunity_id, StageTransition.at, StageTransition.to_stage_id)
              .join(Opportunity, Opportunity.id == StageTransition.opportunity_id).where(Opportunity.org_id == org_id))
        if ids is not None:
            tq = tq.where(StageTransition.opportunity_id.in_(ids))
        for opp_id, at, stage_id in session.execute(tq):
            transitions[opp_id].append((at, stage_id))
        for rows in transitions.values():
            rows.sort()
        changes: dict[tuple[int, str], list[tuple[datetime, Any, Any]]] = defaultdict(list)
        aq = (select(AuditEntry.entity_id, AuditEntry.field, AuditEntry.changed_at, AuditEntry.old_value, AuditEntry.new_value)
              .where(AuditEntry.org_id == org_id, AuditEntry.entity_type == "opportunity", AuditEntry.field.in_(TRACKED_FIELDS)))
        if ids is not None:
            aq = aq.where(AuditEntry.entity_id.in_(ids))
        for opp_id, field, at, old, new in session.execute(aq.order_by(AuditEntry.changed_at, AuditEntry.id)):
            changes[(opp_id, field)].append((at, _decode(field, old), _decode(field, new)))
        return cls(org_id, stages, deals, dict(transitions), dict(changes))

    def _value_at(self, deal: _Deal, field: str, at: datetime) -> Any:
        """The field's value at `at`: the latest audited change before it, else the value before the first later
        change, else the current value."""
        rows = self.changes.get((deal.id, field))
        if rows:
            index = bisect_right([r[0] for r in rows], at)
            return rows[index - 1][2] if index else rows[0][1]
        return getattr(deal, field)

    def _pushes_at(self, deal: _Deal, at: datetime) -> int:
        rows = self.changes.get((deal.id, "close_date"))
        if not rows:
            return deal.pushes_now if at >= deal.updated_at else 0
        return sum(1 for when, old, new in rows if when <= at and old is not None and new is not None and new > old)

    def stage_at(self, opportunity_id: int, at: datetime) -> tuple[StageInfo, datetime] | None:
        """(stage, entered at) of a deal at `at`; None before it existed or when its history does not say."""
        deal = self.deals[opportunity_id]
        if deal.created_at > at:
            return None
        rows = self.transitions.get(opportunity_id, [])
        index = bisect_right([r[0] for r in rows], at)
        if index:
            entered, stage_id = rows[index - 1]
            return self.stages[stage_id], entered
        if rows or deal.closed_at is not None:
            return None  # created before its first recorded stage: the stage then is unknown
        return self.stages[deal.stage_id], deal.created_at

    def state_at(self, opportunity_id: int, at: datetime) -> DealState | None:
        """The deal at `at` if it was open then, else None."""
        deal = self.deals[opportunity_id]
        stage = self.stage_at(opportunity_id, at)
        if stage is None or stage[0].is_closed or (deal.closed_at is not None and deal.closed_at <= at):
            return None
        amount = self._value_at(deal, "amount", at)
        probability = self._value_at(deal, "probability", at)
        return DealState(
            opportunity_id=deal.id, owner_id=deal.owner_id, stage=stage[0],
            amount=float(amount if amount is not None else 0.0), currency=deal.currency,
            close_date=self._value_at(deal, "close_date", at),
            forecast_category=self._value_at(deal, "forecast_category", at) or "pipeline",
            probability=int(probability if probability is not None else stage[0].probability),
            created_at=deal.created_at, stage_entered_at=stage[1], close_date_pushes=self._pushes_at(deal, at),
        )

    def states_at(self, at: datetime) -> list[DealState]:
        """Every deal that was open at `at`, as it stood then."""
        out = []
        for opp_id in sorted(self.deals):
            state = self.state_at(opp_id, at)
            if state is not None:
                out.append(state)
        return out

    def outcomes(self) -> dict[int, Outcome]:
        """How each closed deal ended: won or lost, when, for how much."""
        out = {}
        for deal in self.deals.values():
            stage = self.stages.get(deal.stage_id)
            if stage is not None and stage.is_closed and deal.closed_at is not None:
                out[deal.id] = Outcome(stage.is_won, deal.closed_at, deal.amount, deal.currency)
        return out

    def stay_end(self, opportunity_id: int, stage_id: int) -> datetime | None:
        """When the deal's last stay in `stage_id` ended (its next transition, or its close); None if it never left."""
        rows = self.transitions.get(opportunity_id, [])
        end = None
        for (at, sid), nxt in zip(rows, rows[1:] + [None]):
            if sid == stage_id:
                end = nxt[0] if nxt is not None else self.deals[opportunity_id].closed_at
        return end


def _snapshot_row(org_id: int, day: date, state: DealState, source: str) -> dict[str, Any]:
    return {"org_id": org_id, "opportunity_id": state.opportunity_id, "day": day, "stage_id": state.stage.id,
            "owner_id": state.owner_id, "amount": Decimal(str(round(state.amount, 2))), "currency": state.currency,
            "close_date": state.close_date, "forecast_category": state.forecast_category,
            "probability": state.probability, "source": source, "created_at": datetime.now(timezone.utc)}


def write_snapshot(uow: UnitOfWork, org_id: int, day: date, *, history: DealHistory | None = None,
                   source: str = "daily", commit: bool = True) -> int:
    """Store the pipeline as it stood at the start of `day` (replacing that day's rows); returns the deals stored."""
    history = history or DealHistory.load(uow.s, org_id)
    states = history.states_at(day_start(day))
    uow.s.execute(delete(PipelineSnapshot).where(PipelineSnapshot.org_id == org_id, PipelineSnapshot.day == day))
    if states:
        uow.s.execute(insert(PipelineSnapshot), [_snapshot_row(org_id, day, st, source) for st in states])
    if commit:
        uow.commit()
    return len(states)


def backfill_snapshots(uow: UnitOfWork, org_id: int, start: date, end: date, *, overwrite: bool = False) -> int:
    """Snapshots for every day from `start` to `end` (inclusive) rebuilt from history; days already stored are kept
    unless `overwrite`. Returns the rows written; commits."""
    history = DealHistory.load(uow.s, org_id)
    have = set(uow.s.scalars(select(PipelineSnapshot.day).where(PipelineSnapshot.org_id == org_id,
                                                              PipelineSnapshot.day >= start, PipelineSnapshot.day <= end).distinct()))
    written, day = 0, start
    while day <= end:
        if overwrite or day not in have:
            written += write_snapshot(uow, org_id, day, history=history, source="backfill", commit=False)
        day += timedelta(days=1)
    uow.commit()
    return written


def pipeline_on(session: Session, history: DealHistory, day: date) -> list[DealState]:
    """The pipeline at the start of `day`: the stored snapshot's stage, amount, close date, category and probability
    where one was taken that day, else rebuilt from history."""
    rebuilt = {s.opportunity_id: s for s in history.states_at(day_start(day))}
    rows = session.execute(select(PipelineSnapshot).where(PipelineSnapshot.org_id == history.org_id,
                                                          PipelineSnapshot.day == day)).scalars().all()
    if not rows:
        return list(rebuilt.values())
    out = []
    for row in rows:
        base = rebuilt.get(row.opportunity_id)
        stage = history.stages.get(row.stage_id)
        if base is None or stage is None or row.opportunity_id not in history.deals:
            continue
        out.append(replace(base, stage=stage, amount=float(row.amount), close_date=row.close_date,
                           forecast_category=row.forecast_category, probability=row.probability))
    return out
