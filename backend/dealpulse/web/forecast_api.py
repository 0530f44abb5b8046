"""JSON endpoints of pipeline metrics (`GET /api/v1/metrics`) and the forecast roll-up (`GET /api/v1/forecast`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..services.forecast import WinPredictor, forecast_rollup
from ..services.win_model import ModelPredictor
from ..services.metrics import MetricsFilter, pipeline_metrics
from .api import parse_query, require_principal
from .auth import current_principal
from .openapi import documented
from .toolkit import app_db, app_settings

bp = Blueprint("forecast_api", __name__, url_prefix="/api/v1")
bp.before_request(require_principal)

TeamRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=320)]
Rate = Annotated[float, Field(ge=0, le=1)]


class MetricsQuery(BaseModel):
    """Filters of the metrics: a team (id or name), an owner's address, a closing-date window (inclusive)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    team: TeamRef | None = None
    owner: Email | None = None
    from_: dt.date | None = Field(None, alias="from", description="first closing day (YYYY-MM-DD)")
    to: dt.date | None = Field(None, description="last closing day, inclusive (YYYY-MM-DD)")


class OwnerMetricsOut(BaseModel):
    """One owner's figures."""

    owner_email: str | None
    won: int
    lost: int
    win_rate: Rate | None
    avg_won_amount: dict[str, str]
    cycle_days_median: float | None
    cycle_days_mean: float | None
    quota_attainment: dict[str, float | None] | None


class StageMetricsOut(BaseModel):
    """How many closed deals reached an open stage, how many were lost there, and the share that went on."""

    key: str
    name: str
    reached: int
    lost_at: int
    conversion: Rate | None


class MetricsOut(BaseModel):
    """Win rates (by count; by amount per currency), average won deal per currency, sales cycle, funnel, owners."""

    won: int
    lost: int
    win_rate: Rate | None
    win_rate_by_amount: dict[str, Rate | None]
    avg_won_amount: dict[str, str]
    cycle_days_median: float | None
    cycle_days_mean: float | None
    by_owner: list[OwnerMetricsOut]
    stages: list[StageMetricsOut]


class ForecastQuery(BaseModel):
    """The period (2027-Q1 or 2027-03), optionally one team (id or name) or one owner's address."""

    model_config = ConfigDict(extra="forbid")
    period: Annotated[str, StringConstraints(pattern=r"^\d{4}-(Q[1-4]|0[1-9]|1[0-2])$")]
    team: TeamRef | None = None
    owner: Email | None = None


class ForecastFigures(BaseModel):
    """One currency's roll-up: money as decimal strings; coverage = open pipeline / quota still to close."""

    closed_won: str
    commit: str
    best_case: str
    pipeline: str
    stage_weighted: str
    predicted: str | None
    quota: str | None
    coverage: float | None


class TeamForecastOut(BaseModel):
    """A team's roll-up per currency."""

    team_id: int
    name: str | None
    figures: dict[str, ForecastFigures]


class RepForecastOut(BaseModel):
    """A rep's roll-up per currency."""

    owner_email: str
    name: str
    team_id: int | None
    figures: dict[str, ForecastFigures]


class ForecastOut(BaseModel):
    """The roll-up of a period per rep, per team and in total (what the caller may see)."""

    period: str
    start: str
    end: str
    predicted_note: str
    total: dict[str, ForecastFigures]
    teams: list[TeamForecastOut]
    reps: list[RepForecastOut]


def win_predictor() -> WinPredictor | None:
    """The hook for the forecast's `predicted` column: the organisation's win-probability model once one is trained,
    else stage probabilities with the "not enough history" note (services.win_model.ModelPredictor)."""
    settings = app_settings()
    return ModelPredictor(settings.model_dir, settings.win_model_min_closed)


@bp.get("/metrics")
@documented("Pipeline metrics of the deals closed in a window", tags=("forecast",), query=MetricsQuery,
            response=MetricsOut, statuses={403: "a team or person outside what you may see", 422: "bad filter"})
def metrics() -> Response:
    """Win rate, deal size, cycle, funnel and per-owner figures over what I may see (rep: own, manager: teams)."""
    query = parse_query(MetricsQuery)
    flt = MetricsFilter(team=query.team, owner_email=query.owner, start=query.from_, end=query.to)
    with app_db().uow() as uow:
        return jsonify(pipeline_metrics(uow, current_principal(), flt))


@bp.get("/forecast")
@documented("The forecast roll-up of a period", tags=("forecast",), query=ForecastQuery, response=ForecastOut,
            statuses={403: "a team or person outside what you may see", 422: "bad period or filter"})
def forecast() -> Response:
    """Closed won, commit, best case, pipeline, stage-weighted, predicted, quota and coverage per rep and team."""
    query = parse_query(ForecastQuery)
    with app_db().uow() as uow:
        return jsonify(forecast_rollup(uow, current_principal(), query.period, team=query.team, owner_email=query.owner,
                                       predictor=win_predictor()))
