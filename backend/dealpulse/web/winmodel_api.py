"""JSON endpoints of forecast accuracy (the backtest) and a deal compared with the deals we won."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, Field

from .toolkit import app_db, app_settings
from ..services import backtest as backtest_service
from ..services import won_comparison as won_service
from .api import parse_query
from .auth import authenticate_request, current_principal
from .openapi import documented

bp = Blueprint("winmodel_api", __name__, url_prefix="/api/v1")

Method = Literal["stage_weighted", "rep_commit", "predicted"]


class BacktestQuery(BaseModel):
    """How many past quarters to backtest."""

    quarters: int = Field(8, ge=1, le=16)


class MethodResult(BaseModel):
    """One method's forecast for one period, its error against what was won, and its per-deal Brier score."""

    forecast: float
    error_pct: float | None = Field(description="(forecast - actual_won) / actual_won x 100; null when nothing was won")
    brier: float | None
    method: Literal["model", "stage"] | None = Field(None, description="predicted only: the model, or stage probabilities")
    note: str | None = None


class PeriodResult(BaseModel):
    """A past quarter: deals open at its start, what was won in it, and each method's forecast made at its start."""

    period: str
    open_deals: int
    won_deals: int
    actual_won: float
    actual_won_from_open: float
    methods: dict[Method, MethodResult]


class CalibrationBinOut(BaseModel):
    """Deals whose probability fell in [low, high) and the share of them that were won."""

    low: float
    high: float
    deals: int
    mean_probability: float | None
    won_share: float | None


class MethodSummary(BaseModel):
    """A method over all periods: mean absolute forecast error in percent, Brier score, calibration."""

    mean_abs_error_pct: float | None
    brier: float | None
    deals: int
    calibration: list[CalibrationBinOut]


class BacktestOut(BaseModel):
    """How accurate our forecast was, per quarter and method, in the organisation's main currency."""

    currency: str
    periods: list[PeriodResult]
    summary: dict[Method, MethodSummary]
    note: str


class GapOut(BaseModel):
    """An exit answer or buying-team role most won deals had at this stage that this deal lacks."""

    item: str = Field(description="question:<key> (answered yes) or role:<role> (filled)")
    label: str
    stage_key: str
    share_of_won: float
    win_rate_without: float
    win_rate_with: float
    deals_without: int
    deals_with: int
    reason: str


class WonComparisonOut(BaseModel):
    """A deal compared with the organisation's won deals at its stage."""

    opportunity_id: int
    stage: str
    closed_deals: int
    gaps: list[GapOut]
    note: str


@bp.before_request
def require_principal() -> None:
    """Authenticate every request like the rest of /api/v1."""
    if request.method == "OPTIONS":
        return
    with app_db().uow() as uow:
        g.principal = authenticate_request(uow.s)
        uow.commit()


@bp.get("/forecast/backtest")
@documented("How accurate our forecast was (backtest)", tags=("forecast",), query=BacktestQuery, response=BacktestOut,
            statuses={403: "reps do not see the organisation's backtest", 422: "bad number of quarters"})
def forecast_backtest() -> Response:
    """Per past quarter, each method's forecast at its start vs what was won; Brier score and calibration."""
    query = parse_query(BacktestQuery)
    settings = app_settings()
    with app_db().uow() as uow:
        result: dict[str, Any] = backtest_service.forecast_accuracy(
            uow, current_principal(), query.quarters, settings.win_model_min_closed)
    return jsonify(result)


@bp.get("/opportunities/<int:opportunity_id>/compared-with-won")
@documented("A deal compared with the deals we won", tags=("forecast",), response=WonComparisonOut,
            statuses={404: "not found or not visible"})
def compared_with_won(opportunity_id: int) -> Response:
    """What most won deals had at this deal's stage that it lacks, with the win rate without and with it."""
    with app_db().uow() as uow:
        return jsonify(won_service.compared_with_won(uow, current_principal(), opportunity_id))
