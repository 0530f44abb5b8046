"""How accurate our forecast was: for past periods, what each method forecast at the period's start vs what closed.

Methods: stage-weighted (Σ stage probability × amount of deals closing in the period), rep commit (Σ amount of deals
the rep called commit closing in the period) and predicted (Σ P(win within the period) × amount, from a model
trained only on deals closed before the period began; stage probabilities when there were too few). Per method:
forecast error in percent against the amount won in the period, and the Brier score and calibration of its per-deal
probabilities on the deals open at the start (a commit call counts as probability 1).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any, Sequence

from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..domain.forecast_scoring import brier_score, calibration, forecast_error_pct, mean_absolute_error_pct
from ..domain.periods import Period, period_of
from ..store import utcnow
from ..store.uow import UnitOfWork
from .deal_history import DealHistory, DealState, day_start, pipeline_on
from .errors import PermissionDenied
from .win_model import FeatureCache, not_enough_note, stage_probability, train_from_history

METHODS = ("stage_weighted", "rep_commit", "predicted")


def past_quarters(today: date, count: int) -> list[Period]:
    """The `count` quarters that ended before `today`, oldest first."""
    out: list[Period] = []
    current = period_of(today)
    while len(out) < count:
        day = current.start.replace(day=1)
        prev_day = date(day.year - (day.month <= 3), (day.month - 4) % 12 + 1, 1)
        current = period_of(prev_day)
        out.append(current)
    return list(reversed(out))


def _commit(state: DealState, period: Period) -> float:
    return 1.0 if state.forecast_category == "commit" and state.close_date is not None and state.close_date < period.end else 0.0


def main_currency(history: DealHistory) -> str:
    """The currency most of the organisation's deals are in (a forecast never adds currencies)."""
    counts = Counter(d.currency for d in history.deals.values())
    return counts.most_common(1)[0][0] if counts else "USD"


def backtest(session: Session, org_id: int, periods: Sequence[Period], min_closed: int,
             currency: str | None = None) -> dict[str, Any]:
    """Forecast vs actual per period and method, with Brier scores and calibration pooled over the periods."""
    history = DealHistory.load(session, org_id)
    currency = currency or main_currency(history)
    outcomes = history.outcomes()
    cache = FeatureCache(session, history)
    pooled: dict[str, list[tuple[float, bool]]] = {m: [] for m in METHODS}
    rows = []
    for period in periods:
        start, end = day_start(period.start), day_start(period.end)
        states = [s for s in pipeline_on(session, history, period.start) if s.currency == currency]
        won_in = {i for i, o in outcomes.items() if o.won and start <= o.closed_at < end and o.currency == currency}
        actual = sum(outcomes[i].amount for i in won_in)
        actual_open = sum(outcomes[i].amount for i in won_in if any(s.opportunity_id == i for s in states))
        params, metrics, (won, lost) = train_from_history(session, history, start, min_closed, cache)
        if params is not None:
            _, features = cache.at(period.start, period.end, states)
            predicted = {s.opportunity_id: params.probability(features[s.opportunity_id]) for s in states}
            how, note = "model", f"model trained on {won} won and {lost} lost deals closed before {period.start}"
        else:
            predicted = {s.opportunity_id: stage_probability(s, period.end) for s in states}
            how, note = "stage", not_enough_note(won, lost, min_closed)
        probabilities = {
            "stage_weighted": {s.opportunity_id: stage_probability(s, period.end) for s in states},
            "rep_commit": {s.opportunity_id: _commit(s, period) for s in states},
            "predicted": predicted,
        }
        methods = {}
        for method, by_deal in probabilities.items():
            pairs = [(by_deal[s.opportunity_id], s.opportunity_id in won_in) for s in states]
            pooled[method].extend(pairs)
            forecast = sum(by_deal[s.opportunity_id] * s.amount for s in states)
            methods[method] = {"forecast": round(forecast, 2), "error_pct": _round(forecast_error_pct(forecast, actual)),
                               "brier": _round(brier_score(pairs), 4)}
        methods["predicted"].update({"method": how, "note": note})
        rows.append({"period": period.key, "open_deals": len(states), "won_deals": len(won_in),
                     "actual_won": round(actual, 2), "actual_won_from_open": round(actual_open, 2), "methods": methods})
    summary = {
        method: {
            "mean_abs_error_pct": _round(mean_absolute_error_pct(r["methods"][method]["error_pct"] for r in rows)),
            "brier": _round(brier_score(pooled[method]), 4),
            "deals": len(pooled[method]),
            "calibration": [b.as_dict() for b in calibration(pooled[method])],
        }
        for method in METHODS
    }
    return {"currency": currency, "periods": rows, "summary": summary,
            "note": "forecasts as of each period's first day (stored snapshot where one exists); actual = amount won "
                    "in the period by close date, including deals created during it"}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def forecast_accuracy(uow: UnitOfWork, principal: Principal, quarters: int, min_closed: int,
                      today: date | None = None) -> dict[str, Any]:
    """The backtest of the organisation's last `quarters` quarters (managers and admins; reps get PermissionDenied)."""
    if not principal.is_manager:
        raise PermissionDenied("forecast accuracy is shown to managers and admins")
    periods = past_quarters(today or utcnow().date(), quarters)
    return backtest(uow.s, principal.org_id, periods, min_closed)
