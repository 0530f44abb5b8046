"""The manager dashboard: server-rendered pages (pipeline, deal, alert feed, review agenda) with server-side SVG charts.

No inline scripts or styles (the app's strict CSP applies); every form carries the session's CSRF token; email
text is rendered escaped; private activities show metadata only to anyone but the reps who captured them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Sequence

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from .toolkit import app_alert_defaults, app_db
from ..services.alert_actions import acknowledge_alert, resolve_alert
from ..services.alert_feed import alert_feed
from ..services import dashboard as service
from ..services import deal_page as deal_page_service
from ..services import review_agenda as agenda_service
from ..services import deal_qualification as qualification_service
from ..services import threads as threads_service
from ..services.errors import (
    ConflictError,
    InvalidField,
    NotFoundError,
    PermissionDenied,
    StaleVersion,
)
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


@bp.errorhandler(StaleVersion)
def _stale(exc: StaleVersion) -> tuple[str, int]:
    return render_template("dashboard/error.html", title="Someone else changed this deal",
                           message="Nothing was saved. Go back, reload the deal and try again."), 409


@bp.errorhandler(PermissionDenied)
def _denied(exc: PermissionDenied) -> tuple[str, int]:
    return render_template("dashboard/error.html", title="Not allowed", message=str(exc)), 403


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
        data = deal_page_service.deal_page(uow, g.principal, opportunity_id, alert_defaults=app_alert_defaults())
    weekly = bars(data["weekly"], ("inbound", "outbound"))
    return render_template("dashboard/deal.html", data=data, tone=tone_chart(data["tone"]), weekly=weekly)


@bp.get("/alerts")
def alerts_page() -> str:
    """The alert feed with acknowledge and resolve."""
    state = request.args.get("state", "unresolved")
    with app_db().uow() as uow:
        items = alert_feed(uow, g.principal, state=state, limit=200)
    return render_template("dashboard/alerts.html", items=items, state=state)


@bp.post("/alerts/<int:alert_id>/<action>")
def alert_action(alert_id: int, action: str) -> Response:
    """Acknowledge or resolve an alert, then go back where the form was."""
    if action not in ("acknowledge", "resolve"):
        abort(404)
    with app_db().uow() as uow:
        try:
            if action == "acknowledge":
                acknowledge_alert(uow, g.principal, alert_id, alert_defaults=app_alert_defaults())
            else:
                resolve_alert(uow, g.principal, alert_id, alert_defaults=app_alert_defaults())
        except ConflictError as exc:
            return Response(render_template("dashboard/error.html", title="Already done", message=str(exc)), status=409)
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/dashboard/") and not back.startswith("//") else url_for("dashboard.alerts_page"), code=303)


@bp.get("/agenda")
def agenda_page() -> str:
    """Per-rep review agenda: the three problem deals by risk x size within each currency, with reasons."""
    with app_db().uow() as uow:
        reps = agenda_service.reps_for_agenda(uow, g.principal)
        rep_id = _int_arg("rep") or (reps[0]["id"] if g.principal.is_manager and reps else g.principal.user_id)
        agenda = agenda_service.review_agenda(uow, g.principal, rep_id)
    return render_template("dashboard/agenda.html", agenda=agenda, reps=reps, rep_id=rep_id)



def _back(default: str) -> Response:
    """Redirect (303) to the form's `next` when it is a dashboard page, else to `default`."""
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/dashboard/") and not back.startswith("//") else default, code=303)


def _form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    if raw in ("", "none"):
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidField([{"field": name, "message": "must be a number", "type": "int"}])
    return int(raw)


@bp.get("/needs-deal")
def needs_deal_page() -> str:
    """Emails that match several deals and count toward none until someone chooses (mine; a manager's teams')."""
    with app_db().uow() as uow:
        items = threads_service.needs_deal(uow, g.principal)
    return render_template("dashboard/needs_deal.html", items=items)


@bp.post("/threads/link")
def link_thread() -> Response:
    """Change the deal of my copies of a conversation, or mark it "not a deal"; both deals' alerts refresh."""
    thread_key = request.form.get("thread_key", "")
    opportunity_id = _form_int("opportunity_id")
    with app_db().uow() as uow:
        threads_service.link_thread(uow, g.principal, thread_key, opportunity_id, alert_defaults=app_alert_defaults())
    target = url_for("dashboard.deal_page", opportunity_id=opportunity_id) if opportunity_id else url_for("dashboard.needs_deal_page")
    return _back(target)


@bp.post("/deals/<int:opportunity_id>/buying-team")
def add_to_buying_team(opportunity_id: int) -> Response:
    """Add a person by address to the buying team with a role."""
    version = _form_int("version") or 0
    with app_db().uow() as uow:
        qualification_service.add_to_buying_team(uow, g.principal, opportunity_id, version, request.form.get("email", ""),
                                       request.form.get("name", ""), request.form.get("role", ""), alert_defaults=app_alert_defaults())
    return redirect(url_for("dashboard.deal_page", opportunity_id=opportunity_id) + "#team-h", code=303)


@bp.post("/deals/<int:opportunity_id>/buying-team/<int:contact_id>")
def set_buying_role(opportunity_id: int, contact_id: int) -> Response:
    """Set a member's role, or remove them from the team (empty role)."""
    version = _form_int("version") or 0
    role = request.form.get("role", "") or None
    with app_db().uow() as uow:
        qualification_service.set_buying_role(uow, g.principal, opportunity_id, version, contact_id, role, alert_defaults=app_alert_defaults())
    return redirect(url_for("dashboard.deal_page", opportunity_id=opportunity_id) + "#team-h", code=303)
