"""The dashboard's Forecast, Metrics and forecast-accuracy pages (routes on the dashboard blueprint).

Every figure comes from the service the API uses (`forecast_rollup`, `forecast_by_week`, `pipeline_metrics`,
`forecast_accuracy`): the views only pick the request's filters and hand the results to the templates.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import g, render_template, request

from ..domain.periods import Period, parse_period, period_of
from ..services import backtest as backtest_service
from ..services.forecast import forecast_rollup
from ..services.forecast_trend import forecast_by_week
from ..services.metrics import MetricsFilter, filter_choices, pipeline_metrics
from ..services.errors import InvalidField
from ..store import utcnow
from .dashboard import bp, plan_date
from .forecast_api import win_predictor
from .forecast_charts import funnel_chart, trend_chart
from .toolkit import app_db, app_settings

MAX_ARG = 320  # longest filter value accepted (an email address)


def _text_arg(name: str) -> str | None:
    raw = request.args.get(name, "").strip()
    if len(raw) > MAX_ARG:
        raise InvalidField([{"field": name, "message": f"at most {MAX_ARG} characters", "type": "string_too_long"}])
    return raw or None


def _date_arg(name: str) -> date | None:
    raw = _text_arg(name)
    return None if raw is None else plan_date(name, raw)


def _period_arg(today: date) -> Period:
    raw = _text_arg("period")
    if raw is None:
        return period_of(today)
    try:
        return parse_period(raw)
    except ValueError as exc:
        raise InvalidField([{"field": "period", "message": str(exc), "type": "period"}]) from None


def period_choices(today: date, chosen: Period) -> list[Period]:
    """The picker's periods: the last 8 quarters, this one and the next, and the months of this and the last quarter."""
    current = period_of(today)
    quarters, day = [current], current.start
    for _ in range(8):
        day = period_of(day - timedelta(days=1)).start
        quarters.insert(0, period_of(day))
    quarters.append(period_of(current.end))
    months = period_of(current.start - timedelta(days=1)).months() + current.months()
    choices = quarters + months
    return choices if chosen.key in {p.key for p in choices} else [chosen] + choices


@bp.get("/forecast")
def forecast_page() -> str:
    """The forecast of a period per rep, team and in total, and its week-by-week chart against closed won."""
    today = utcnow().date()
    period = _period_arg(today)
    team, owner = _text_arg("team"), _text_arg("owner")
    with app_db().uow() as uow:
        rollup = forecast_rollup(uow, g.principal, period.key, team=team, owner_email=owner, predictor=win_predictor())
        trend = forecast_by_week(uow, g.principal, period.key, today, team=team, owner_email=owner)
        choices = filter_choices(uow, g.principal)
    charts = {currency: trend_chart(points) for currency, points in trend["currencies"].items()}
    return render_template("dashboard/forecast.html", rollup=rollup, trend=trend, charts=charts, period=period,
                           periods=period_choices(today, period), choices=choices, team=team, owner=owner,
                           last_day=period.end - timedelta(days=1))


@bp.get("/metrics")
def metrics_page() -> str:
    """Win rates, deal size, sales cycle, the funnel with leakage per stage and the per-rep table, filtered."""
    flt = MetricsFilter(team=_text_arg("team"), owner_email=_text_arg("owner"), start=_date_arg("from"), end=_date_arg("to"))
    with app_db().uow() as uow:
        metrics = pipeline_metrics(uow, g.principal, flt)
        choices = filter_choices(uow, g.principal)
    return render_template("dashboard/metrics.html", metrics=metrics, funnel=funnel_chart(metrics["stages"]), flt=flt,
                           choices=choices)


@bp.get("/forecast/accuracy")
def accuracy_page() -> str:
    """How accurate our forecast was: each method's forecast at the start of past quarters vs what was won."""
    raw = _text_arg("quarters") or "8"
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 16):
        raise InvalidField([{"field": "quarters", "message": "a whole number from 1 to 16", "type": "int"}])
    with app_db().uow() as uow:
        result = backtest_service.forecast_accuracy(uow, g.principal, int(raw), app_settings().win_model_min_closed)
    return render_template("dashboard/accuracy.html", result=result, quarters=int(raw), methods=METHOD_NAMES)


METHOD_NAMES = {"stage_weighted": "Stage-weighted", "rep_commit": "Rep commit", "predicted": "Predicted"}
