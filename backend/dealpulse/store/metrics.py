"""The SQL behind pipeline metrics and the forecast roll-up: every figure is aggregated here, in the database.

Callers pass `scope`, a WHERE clause on Opportunity (access rules and filters) and an optional closed_at window;
the queries return small grouped rows (per owner, currency, outcome) that services turn into rates.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Float, and_, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from .crm import Opportunity, Stage, StageTransition
from .forecasting import PipelineSnapshot
from .quotas import Quota


class days_between(FunctionElement):
    """Days (fractional) from the first timestamp to the second."""

    type = Float()
    inherit_cache = True


@compiles(days_between)
def _days_default(element: Any, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) / 86400.0)"


@compiles(days_between, "sqlite")
def _days_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"(julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)}))"


class year_month(FunctionElement):
    """A timestamp's month as text 'YYYY-MM' (UTC)."""

    inherit_cache = True


@compiles(year_month)
def _month_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)} AT TIME ZONE 'UTC', 'YYYY-MM')"


@compiles(year_month, "sqlite")
def _month_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(list(element.clauses)[0], **kw)})"


def cents(amount: Any) -> ColumnElement:
    """An amount as whole cents (exact integer sums on every database)."""
    return cast(func.round(amount * 100), BigInteger)


def closed_cohort(scope: Any, start: datetime | None, end: datetime | None) -> Any:
    """Deals in `scope` whose stage is closed, closed at or after `start` and before `end` (either may be None)."""
    clause = and_(scope, Stage.is_closed.is_(True))
    if start is not None:
        clause = and_(clause, Opportunity.closed_at >= start)
    if end is not None:
        clause = and_(clause, Opportunity.closed_at < end)
    return clause


def outcome_totals(session: Session, cohort: Any) -> list[Any]:
    """Per owner, currency and outcome (won True/False): deal count and amount in cents."""
    query = (
        select(Opportunity.owner_id, Opportunity.currency, Stage.is_won, func.count(), func.sum(cents(Opportunity.amount)))
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(cohort)
        .group_by(Opportunity.owner_id, Opportunity.currency, Stage.is_won)
    )
    return session.execute(query).all()


def cycle_summary(session: Session, cohort: Any) -> tuple[list[Any], list[Any]]:
    """Sales cycle (created -> closed, days) of won deals: (owner_id, mean, count) rows with the overall row first
    (owner None), and the middle values of each ordered list as (owner_id or None, value) for the medians."""
    days = days_between(Opportunity.created_at, Opportunity.closed_at)
    won = and_(cohort, Stage.is_won.is_(True), Opportunity.closed_at.is_not(None))
    base = select(Opportunity.owner_id.label("owner_id"), days.label("days")).join(Stage, Stage.id == Opportunity.stage_id).where(won)
    sums = session.execute(
        select(Opportunity.owner_id, func.sum(days), func.count()).join(Stage, Stage.id == Opportunity.stage_id)
        .where(won).group_by(Opportunity.owner_id)
    ).all()
    total, count = sum(float(s) for _o, s, _n in sums), sum(n for _o, _s, n in sums)
    means = [(None, total / count if count else None, count)] + [(o, float(s) / n, n) for o, s, n in sums]
    ranked = base.subquery()
    numbered = select(
        ranked.c.owner_id, ranked.c.days,
        func.row_number().over(order_by=ranked.c.days).label("rn_all"),
        func.count().over().label("n_all"),
        func.row_number().over(partition_by=ranked.c.owner_id, order_by=ranked.c.days).label("rn_owner"),
        func.count().over(partition_by=ranked.c.owner_id).label("n_owner"),
    ).subquery()

    def middle(rn: Any, n: Any) -> Any:
        return (rn == (n + 1) // 2) | (rn == (n + 2) // 2)

    rows = session.execute(
        select(numbered.c.owner_id, numbered.c.days, middle(numbered.c.rn_all, numbered.c.n_all),
               middle(numbered.c.rn_owner, numbered.c.n_owner))
        .where(middle(numbered.c.rn_all, numbered.c.n_all) | middle(numbered.c.rn_owner, numbered.c.n_owner))
    ).all()
    middles = [(None, d) for _o, d, is_all, _ in rows if is_all] + [(o, d) for o, d, _, is_owner in rows if is_owner]
    return means, middles


def furthest_open_stage(session: Session, cohort: Any) -> list[Any]:
    """Per outcome (won True/False) and the highest open-stage position each deal reached (None: no open stage on
    record): how many deals."""
    reached = (
        select(func.max(Stage.position))
        .select_from(StageTransition)
        .join(Stage, Stage.id == StageTransition.to_stage_id)
        .where(StageTransition.opportunity_id == Opportunity.id, Stage.is_closed.is_(False))
        .scalar_subquery()
    )
    per_deal = (
        select(Stage.is_won.label("won"), reached.label("furthest"))
        .select_from(Opportunity).join(Stage, Stage.id == Opportunity.stage_id).where(cohort)
    ).subquery()
    return session.execute(
        select(per_deal.c.won, per_deal.c.furthest, func.count()).group_by(per_deal.c.won, per_deal.c.furthest)
    ).all()


def won_by_month(session: Session, cohort: Any, owner_ids: list[int]) -> list[Any]:
    """Won amount in cents per owner, currency and closing month ('YYYY-MM') for the given owners."""
    if not owner_ids:
        return []
    month = year_month(Opportunity.closed_at)
    return session.execute(
        select(Opportunity.owner_id, Opportunity.currency, month, func.sum(cents(Opportunity.amount)))
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(cohort, Stage.is_won.is_(True), Opportunity.owner_id.in_(owner_ids), Opportunity.closed_at.is_not(None))
        .group_by(Opportunity.owner_id, Opportunity.currency, month)
    ).all()


def quotas_of(session: Session, org_id: int, owner_ids: Any) -> list[Quota]:
    """The quotas of the given owners (a list or a subquery of user ids)."""
    return list(session.scalars(select(Quota).where(Quota.org_id == org_id, Quota.user_id.in_(owner_ids))))


def open_forecast_totals(session: Session, scope: Any, first_day: date, after_last_day: date) -> list[Any]:
    """Open deals in `scope` expected to close in [first_day, after_last_day): per owner, currency and forecast
    category, the amount in cents and the stage-weighted amount in cents (stage probability x amount)."""
    weighted = func.sum(cents(Opportunity.amount) * Stage.probability / 100.0)
    return session.execute(
        select(Opportunity.owner_id, Opportunity.currency, Opportunity.forecast_category,
               func.sum(cents(Opportunity.amount)), weighted)
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(scope, Stage.is_closed.is_(False), Opportunity.close_date >= first_day, Opportunity.close_date < after_last_day)
        .group_by(Opportunity.owner_id, Opportunity.currency, Opportunity.forecast_category)
    ).all()


def open_deals_closing(session: Session, scope: Any, first_day: date, after_last_day: date) -> list[Any]:
    """(id, owner_id, currency, amount in cents) of the open deals in `scope` expected to close in the window (the
    deals a win model predicts)."""
    return session.execute(
        select(Opportunity.id, Opportunity.owner_id, Opportunity.currency, cents(Opportunity.amount))
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(scope, Stage.is_closed.is_(False), Opportunity.close_date >= first_day, Opportunity.close_date < after_last_day)
    ).all()


def snapshot_totals(session: Session, scope: Any, day: date, first_day: date, after_last_day: date) -> list[Any]:
    """The stored pipeline snapshot of `day` for deals in `scope` expected to close in [first_day, after_last_day):
    per currency and forecast category, the amount in cents and the probability-weighted amount in cents."""
    from_snapshot = PipelineSnapshot.opportunity_id == Opportunity.id
    weighted = func.sum(cents(PipelineSnapshot.amount) * PipelineSnapshot.probability / 100.0)
    return session.execute(
        select(PipelineSnapshot.currency, PipelineSnapshot.forecast_category, func.sum(cents(PipelineSnapshot.amount)), weighted)
        .join(Opportunity, from_snapshot)
        .where(scope, PipelineSnapshot.day == day, PipelineSnapshot.close_date >= first_day,
               PipelineSnapshot.close_date < after_last_day)
        .group_by(PipelineSnapshot.currency, PipelineSnapshot.forecast_category)
    ).all()


def snapshot_days(session: Session, org_id: int, first_day: date, after_last_day: date) -> list[date]:
    """The days in [first_day, after_last_day) with a stored pipeline snapshot of the organisation."""
    return list(session.scalars(
        select(PipelineSnapshot.day).where(PipelineSnapshot.org_id == org_id, PipelineSnapshot.day >= first_day,
                                           PipelineSnapshot.day < after_last_day).distinct().order_by(PipelineSnapshot.day)
    ))
