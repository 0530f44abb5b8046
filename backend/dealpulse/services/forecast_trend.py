"""The forecast of a period week by week against what had closed: the Forecast page's chart.

Each point is a day of the period (its first day, then every 7 days, then the day after it ends once that has
passed): closed won from the period's start to that day, and the open deals expected to close in the period as the
stored daily pipeline snapshot of that day saw them (commit, best case, probability-weighted). Without a stored
snapshot on a day the forecast of that day is unknown (None), never guessed. Money is kept per currency.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ..domain.access import Principal
from ..domain.periods import parse_period
from ..store import metrics as q
from ..store.uow import UnitOfWork
from .errors import InvalidField
from .metrics import deal_scope

NO_SNAPSHOTS_NOTE = ("no pipeline snapshot is stored for the days of this period: snapshots are written every day at "
                     "00:05 UTC from the day DealPulse runs, or rebuilt from history with `dealpulse snapshots backfill`")
NOT_STARTED_NOTE = "this period has not started: there is nothing to chart yet"


def _money(cents: Decimal | int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def chart_days(start: date, end: date, today: date) -> list[date]:
    """The period's first day, every 7 days after it up to today, and `end` (the day after the period) once passed."""
    days, day = [], start
    while day < end and day <= today:
        days.append(day)
        day += timedelta(days=7)
    if end <= today:
        days.append(end)
    return days


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def forecast_by_week(uow: UnitOfWork, principal: Principal, period_key: str, today: date, team: str | None = None,
                     owner_email: str | None = None) -> dict[str, Any]:
    """Per currency, the points of the period up to `today` with closed won and (where a snapshot exists) the
    forecast made that day: closed won + open commit, + best case, and closed won + probability-weighted open."""
    try:
        period = parse_period(period_key)
    except ValueError as exc:
        raise InvalidField([{"field": "period", "message": str(exc)}]) from exc
    scope = deal_scope(uow, principal, team, owner_email)
    days = chart_days(period.start, period.end, today)
    stored = set(q.snapshot_days(uow.s, principal.org_id, period.start, period.end + timedelta(days=1)))
    series: dict[str, list[dict[str, Any]]] = {}
    raw: list[tuple[date, dict[str, int], dict[str, dict[str, Decimal]] | None]] = []
    for day in days:
        won: dict[str, int] = {}
        cohort = q.closed_cohort(scope.deals, _midnight(period.start), _midnight(day))
        for _owner, currency, is_won, _count, cents in q.outcome_totals(uow.s, cohort):
            if is_won:
                won[currency] = won.get(currency, 0) + int(cents or 0)
        open_: dict[str, dict[str, Decimal]] | None = None
        if day in stored:
            open_ = {}
            for currency, category, cents, weighted in q.snapshot_totals(uow.s, scope.deals, day, period.start, period.end):
                figures = open_.setdefault(currency, {"commit": Decimal(0), "best_case": Decimal(0), "weighted": Decimal(0)})
                if category in ("commit", "best_case"):
                    figures[category] += Decimal(cents or 0)
                figures["weighted"] += Decimal(str(weighted or 0)).quantize(Decimal("1"))
        raw.append((day, won, open_))
    currencies = sorted({c for _d, won, open_ in raw for c in list(won) + list(open_ or {})})
    for currency in currencies:
        points = []
        for day, won, open_ in raw:
            closed = won.get(currency, 0)
            point: dict[str, Any] = {"day": day.isoformat(), "closed_won": _money(closed), "commit": None,
                                     "best_case": None, "weighted": None}
            if open_ is not None:
                f = open_.get(currency, {"commit": Decimal(0), "best_case": Decimal(0), "weighted": Decimal(0)})
                point.update(commit=_money(closed + f["commit"]), best_case=_money(closed + f["commit"] + f["best_case"]),
                             weighted=_money(closed + f["weighted"]))
            points.append(point)
        series[currency] = points
    note = None
    if period.start > today:
        note = NOT_STARTED_NOTE
    elif not any(open_ is not None for _d, _w, open_ in raw):
        note = NO_SNAPSHOTS_NOTE
    return {"period": period.key, "currencies": series, "snapshot_days": sum(1 for d in days if d in stored),
            "points": len(days), "note": note}
