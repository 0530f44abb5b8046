"""The forecast roll-up of one period per rep, team and in total: closed won, the reps' calls (commit, best case,
pipeline), stage-weighted, predicted (from a win model, when one exists), quota and coverage.

Money is kept per currency: every roll-up row maps a currency to its figures. Open deals count in the period their
close date falls in; each counts in exactly one forecast category (omitted deals in none of the three).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select

from ..domain.access import Principal
from ..domain.periods import Period, parse_period
from ..store import Team, User
from ..store import metrics as q
from ..store.uow import UnitOfWork
from .errors import InvalidField
from .metrics import counted_quotas, deal_scope

NO_MODEL_NOTE = "not enough history: no win-probability model has been trained for this organisation yet"
FIGURES = ("closed_won", "commit", "best_case", "pipeline", "stage_weighted", "predicted", "quota")


class WinPredictor(Protocol):
    """The hook a win-probability model fills: P(win within the period) for open deals."""

    def win_probabilities(self, uow: UnitOfWork, org_id: int, opportunity_ids: list[int], period: Period) -> dict[int, float] | None:
        """Probability per opportunity id, or None when the organisation has no usable model (not enough history)."""
        ...

    def note(self) -> str:
        """A line naming the model the probabilities came from (shown next to `predicted`)."""
        ...


def _money(cents: Decimal | int | None) -> str | None:
    return None if cents is None else str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _empty() -> dict[str, Decimal | None]:
    return {name: Decimal(0) for name in FIGURES} | {"predicted": None, "quota": None}


def _add(target: dict[str, Decimal | None], figure: str, cents: Decimal | int) -> None:
    target[figure] = (target[figure] or Decimal(0)) + Decimal(cents)


def _finish(per_currency: dict[str, dict[str, Decimal | None]]) -> dict[str, dict[str, Any]]:
    out = {}
    for currency, f in sorted(per_currency.items()):
        quota, won = f["quota"], f["closed_won"] or Decimal(0)
        open_total = sum((f[k] or Decimal(0) for k in ("commit", "best_case", "pipeline")), Decimal(0))
        remaining = quota - won if quota is not None else None
        out[currency] = {
            **{name: _money(f[name]) for name in FIGURES},
            "coverage": float(open_total / remaining) if remaining is not None and remaining > 0 else None,
        }
    return out


def forecast_rollup(uow: UnitOfWork, principal: Principal, period_key: str, team: str | None = None,
                    owner_email: str | None = None, predictor: WinPredictor | None = None) -> dict[str, Any]:
    """The roll-up of `period_key` (2027-Q1 or 2027-03) over the deals the principal may see, narrowed by a team
    or an owner; `predicted` is null with a "not enough history" note unless `predictor` has a model."""
    try:
        period = parse_period(period_key)
    except ValueError as exc:
        raise InvalidField([{"field": "period", "message": str(exc)}]) from exc
    scope = deal_scope(uow, principal, team, owner_email)
    rep: dict[int, dict[str, dict[str, Decimal | None]]] = defaultdict(lambda: defaultdict(_empty))
    start = datetime(period.start.year, period.start.month, period.start.day, tzinfo=timezone.utc)
    end = datetime(period.end.year, period.end.month, period.end.day, tzinfo=timezone.utc)
    for owner_id, currency, is_won, _count, cents in q.outcome_totals(uow.s, q.closed_cohort(scope.deals, start, end)):
        if is_won:
            _add(rep[owner_id][currency], "closed_won", cents or 0)
    for owner_id, currency, category, cents, weighted in q.open_forecast_totals(uow.s, scope.deals, period.start, period.end):
        if category in ("commit", "best_case", "pipeline"):
            _add(rep[owner_id][currency], category, cents or 0)
        _add(rep[owner_id][currency], "stage_weighted", Decimal(str(weighted or 0)).quantize(Decimal("1")))
    for quota, _p in _period_quotas(uow, principal, scope.owners, period):
        _add(rep[quota.user_id][quota.currency], "quota", int(quota.amount * 100))
    note = NO_MODEL_NOTE
    if predictor is not None:
        deals = q.open_deals_closing(uow.s, scope.deals, period.start, period.end)
        probabilities = predictor.win_probabilities(uow, principal.org_id, [d[0] for d in deals], period)
        if probabilities is not None:
            note = predictor.note()
            for deal_id, owner_id, currency, cents in deals:
                _add(rep[owner_id][currency], "predicted", Decimal(cents) * Decimal(str(probabilities.get(deal_id, 0.0))))
    users = {u.id: u for u in uow.s.scalars(select(User).where(User.id.in_(sorted(rep))))} if rep else {}
    team_names = dict(uow.s.execute(select(Team.id, Team.name).where(Team.org_id == principal.org_id)).all())
    teams: dict[int, dict[str, dict[str, Decimal | None]]] = defaultdict(lambda: defaultdict(_empty))
    total: dict[str, dict[str, Decimal | None]] = defaultdict(_empty)
    for owner_id, per_currency in rep.items():
        team_id = users[owner_id].team_id if owner_id in users else None
        for currency, figures in per_currency.items():
            for target in ([teams[team_id][currency]] if team_id else []) + [total[currency]]:
                for name, value in figures.items():
                    if value is not None:
                        _add(target, name, value)
    return {
        "period": period.key,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "predicted_note": note,
        "total": _finish(total),
        "teams": [{"team_id": t, "name": team_names.get(t), "figures": _finish(f)} for t, f in sorted(teams.items())],
        "reps": [
            {"owner_email": users[o].email, "name": users[o].name, "team_id": users[o].team_id, "figures": _finish(f)}
            for o, f in sorted(rep.items(), key=lambda item: users[item[0]].email)
        ],
    }


def _period_quotas(uow: UnitOfWork, principal: Principal, owners: Any, period: Period) -> list[tuple[Any, Period]]:
    """The quotas that make up `period`: its own, or (for a quarter without one) its months'."""
    quotas = q.quotas_of(uow.s, principal.org_id, owners)
    keys = {m.key for m in period.months()} | {period.key}
    return counted_quotas([qt for qt in quotas if qt.period in keys], period.start, period.end)

