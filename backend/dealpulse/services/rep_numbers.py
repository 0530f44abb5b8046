"""One rep's numbers of the current quarter for the review agenda, from the same queries as the Metrics and Forecast
pages (`pipeline_metrics`, `forecast_rollup`), so the manager and the rep see the same figures."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..domain.access import Principal
from ..domain.periods import period_of
from ..store.uow import UnitOfWork
from .forecast import forecast_rollup
from .metrics import MetricsFilter, pipeline_metrics


def rep_numbers(uow: UnitOfWork, principal: Principal, rep_email: str, today: date) -> dict[str, Any]:
    """Win rate (deals closed this quarter), closed won, commit and quota attainment per currency of this quarter."""
    period = period_of(today)
    flt = MetricsFilter(owner_email=rep_email, start=period.start, end=period.end - timedelta(days=1))
    metrics = pipeline_metrics(uow, principal, flt)
    forecast = forecast_rollup(uow, principal, period.key, owner_email=rep_email)
    owner = next((o for o in metrics["by_owner"] if o["owner_email"] == rep_email), None)
    figures = forecast["reps"][0]["figures"] if forecast["reps"] else {}
    attainment = (owner or {}).get("quota_attainment") or {}
    return {
        "period": period.key,
        "won": metrics["won"], "lost": metrics["lost"], "win_rate": metrics["win_rate"],
        "currencies": [
            {"currency": c, "closed_won": f["closed_won"], "commit": f["commit"], "quota": f["quota"],
             "quota_attainment": attainment.get(c)}
            for c, f in sorted(figures.items())
        ],
    }
