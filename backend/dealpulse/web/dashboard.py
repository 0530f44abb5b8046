"""The manager dashboard: server-rendered pages (pipeline, deal, alert feed, review agenda) with server-side SVG charts.

No inline scripts or styles (the app's strict CSP applies); every form carries the session's CSRF token; email
text is rendered escaped; private activities show metadata only to anyone but the reps who captured them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Sequence

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from ..app import app_db
from ..services import alerts as alert_service
from ..services import dashboard as service
from ..services.errors import ConflictError, InvalidField, NotFoundError
from ..store import MAX_ID
from .signin import csrf_token, require_csrf, signed_in_principal

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static/dashboard", static_url_path="/static")


# ---------------------------------------------------------------- charts (geometry only; templates draw)


@dataclass(frozen=True)
class Spark:
    """A tone sparkline: polyline points in a 0..w x 0..h box, the zero line, and the last point."""

    points: str
    zero_y: float
    last: tuple[float, float] | None
    width: int
    height: int
    label: str


def sparkline(scores: Sequence[float], width: int = 100, height: int = 24) -> Spark:
    """Scores in [-1, 1] as a polyline (top = +1)."""
    def y(value: float) -> float:
        return round((1 - (max(-1.0, min(1.0, value)) + 1) / 2) * (height - 4) + 2, 1)

    if not scores:
        return Spark("", y(0), None, width, height, "no scored inbound email")
    step = (width - 4) / max(1, len(scores) - 1)
    coords = [(round(2 + i * step, 1), y(v)) for i, v in enumerate(scores)]
    label = f"tone of the last {len(scores)} inbound emails, latest {scores[-1]:+.2f}"
    return Spark(" ".join(f"{x},{yy}" for x, yy in coords), y(0), coords[-1], width, height, label)


def bars(values: Sequence[dict[str, Any]], keys: Sequence[str], width: int = 480, height: int = 140) -> dict[str, Any]:
    """Grouped bars (one group per item, one bar per key) scaled to the tallest value."""
    top = max([1.0] + [float(v[k]) for v in values for k in keys])
    group = (width - 20) / max(1, len(values))
    bar = max(2.0, group / (len(keys) + 1))
    out = []
    for i, item in enumerate(values):
        for j, key in enumerate(keys):
            h = round(float(item[key]) / top * (height - 30), 1)
            out.append({"x": round(10 + i * group + j * bar, 1), "y": round(height - 20 - h, 1), "w": round(bar - 1, 1),
                        "h": h, "key": key, "value": item[key]})
    return {"bars": out, "width": width, "height": height, "group": group, "top": top}


def stage_chart(by_stage: Sequence[dict[str, Any]], width: int = 480, row: int = 26) -> dict[str, Any]:
    """Horizontal bars of open deals per stage, coloured by mean health band; amounts per currency go in the labels.

    Bars are drawn by deal count because amounts in different currencies have no common scale.
    """
    top = max([1] + [s["count"] for s in by_stage])
    rows = []
    for i, s in enumerate(by_stage):
        band = "good" if s["health"] >= 70 else "watch" if s["health"] >= 40 else "at_risk"
        amounts = " · ".join(fmt_money(a["amount"], a["currency"]) for a in s["amounts"])
        rows.append({**s, "y": i * row + 4, "w": round(s["count"] / top * (width - 200), 1), "band": band, "label": amounts})
    # Widen the drawing so that the longest label (about 7 px a character at 12 px) is not cut off.
    width = max([width] + [round(126 + r["w"] + 7 * (len(r["label"]) + 6)) for r in rows])
    return {"rows": rows, "width": width, "height": max(row, len(rows) * row + 8)}


def tone_chart(series: Sequence[tuple[datetime, float]], width: int = 480, height: int = 140) -> dict[str, Any]:
    """Tone over time: points placed by date."""
    if not series:
        return {"points": "", "dots": [], "width": width, "height": height, "zero": height / 2}
    start, end = series[0][0], series[-1][0]
    span = max(1.0, (end - start).total_seconds())

    def y(v: float) -> float:
        return round((1 - (v + 1) / 2) * (height - 20) + 10, 1)

    dots = [{"x": round(20 + (at - start).total_seconds() / span * (width - 40), 1), "y": y(v), "v": v, "at": at} for at, v in series]
    return {"points": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "width": width, "height": height, "zero": y(0)}


# ---------------------------------------------------------------- request plumbing


@bp.before_request
def _require_signin() -> Response | None:
    if request.endpoint == "dashboard.static":
        return None
    principal = signed_in_principal()
    if principal is None:
        return redirect(url_for("signin.signin_page", next=request.full_path.rstrip("?")))
    g.principal = principal
    require_csrf()
    return None


@bp.context_processor
def _globals() -> dict[str, Any]:
    principal = g.get("principal")
    badge = 0
    if principal is not None:
        with app_db().uow() as uow:
            badge = service.unresolved_count(uow, principal)
    return {"csrf": csrf_token(), "me": principal, "alert_badge": badge, "fmt_money": fmt_money, "fmt_date": fmt_date}


def fmt_money(amount: float, currency: str = "") -> str:
    """12,500 USD."""
    return f"{amount:,.0f} {currency}".strip()


def fmt_date(value: date | datetime | None) -> str:
    """3 Mar 2026, or an em dash."""
    if value is None:
        return "—"
    return f"{value.day} {value:%b %Y}"


@bp.errorhandler(NotFoundError)
def _not_found(exc: NotFoundError) -> tuple[str, int]:
    return render_template("dashboard/error.html", title="Not found", message="This deal or alert does not exist or is not yours to see."), 404


@bp.errorhandler(InvalidField)
def _invalid(exc: InvalidField) -> tuple[str, int]:
    message = "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    return render_template("dashboard/error.html", title="Invalid filter", message=message), 422


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> tuple[str, int]:
    return render_template("dashboard/error.html", title=exc.name, message=exc.description or ""), exc.code or 500


# ---------------------------------------------------------------- pages


PIPELINE_ARGS = ("stage", "owner", "q", "band", "sort", "dir", "page")  # what the pipeline's links carry over


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= MAX_ID):
        raise InvalidField([{"field": name, "message": f"must be a whole number from 1 to {MAX_ID}", "type": "int"}])
    return int(raw)


@bp.get("/")
def pipeline_page() -> str:
    """Every open deal visible to me, sortable and filterable, with health, counts and a tone sparkline."""
    filters = service.PipelineFilters(
        stage=request.args.get("stage") or None, owner_id=_int_arg("owner"), q=request.args.get("q") or None,
        band=request.args.get("band") or None, sort=request.args.get("sort", "health"), descending=request.args.get("dir") == "desc",
    )
    with app_db().uow() as uow:
        data = service.pipeline(uow, g.principal, filters, page=_int_arg("page") or 1)
    for deal in data["deals"]:
        deal["spark"] = sparkline(deal["tone"])
    return render_template("dashboard/pipeline.html", data=data, filters=filters, stage_chart=stage_chart(data["by_stage"]),
                           sort_keys=service.SORT_KEYS,
                           args={k: v for k, v in request.args.items() if k in PIPELINE_ARGS})


@bp.get("/deals/<int:opportunity_id>")
def deal_page(opportunity_id: int) -> str:
    """One deal: health and alerts, timeline with tone, ratings and notes, charts, audit history."""
    with app_db().uow() as uow:
        data = service.deal_page(uow, g.principal, opportunity_id)
    weekly = bars(data["weekly"], ("inbound", "outbound"))
    return render_template("dashboard/deal.html", data=data, tone=tone_chart(data["tone"]), weekly=weekly)


@bp.get("/alerts")
def alerts_page() -> str:
    """The alert feed with acknowledge and resolve."""
    state = request.args.get("state", "unresolved")
    with app_db().uow() as uow:
        items = alert_service.alert_feed(uow, g.principal, state=state, limit=200)
    return render_template("dashboard/alerts.html", items=items, state=state)


@bp.post("/alerts/<int:alert_id>/<action>")
def alert_action(alert_id: int, action: str) -> Response:
    """Acknowledge or resolve an alert, then go back where the form was."""
    if action not in ("acknowledge", "resolve"):
        abort(404)
    with app_db().uow() as uow:
        try:
            if action == "acknowledge":
                alert_service.acknowledge_alert(uow, g.principal, alert_id)
            else:
                alert_service.resolve_alert(uow, g.principal, alert_id)
        except ConflictError as exc:
            return Response(render_template("dashboard/error.html", title="Already done", message=str(exc)), status=409)
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/dashboard/") and not back.startswith("//") else url_for("dashboard.alerts_page"), code=303)


@bp.get("/agenda")
def agenda_page() -> str:
    """Per-rep review agenda: the three problem deals by risk x size within each currency, with reasons."""
    with app_db().uow() as uow:
        reps = service.reps_for_agenda(uow, g.principal)
        rep_id = _int_arg("rep") or (reps[0]["id"] if g.principal.is_manager and reps else g.principal.user_id)
        agenda = service.review_agenda(uow, g.principal, rep_id)
    return render_template("dashboard/agenda.html", agenda=agenda, reps=reps, rep_id=rep_id)

