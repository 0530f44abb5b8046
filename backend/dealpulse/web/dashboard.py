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
from ..services import action_items as items_service
from ..services.alert_actions import acknowledge_alert, resolve_alert
from ..services.alert_feed import alert_feed
from ..services import dashboard as service
from ..services import deal_page as deal_page_service
from ..services import deal_qualification as qualification_service
from ..services import meetings as meetings_service
from ..services import opportunities as opp_service
from ..services import review_agenda as agenda_service
from ..services import won_comparison as won_service
from ..services.rep_numbers import rep_numbers
from ..services import reviews as reviews_service
from ..services import threads as threads_service
from ..services.errors import (
    ConflictError,
    InvalidField,
    NotFoundError,
    PermissionDenied,
    StaleVersion,
)
from ..store import ACTION_OWNER_KINDS, ACTION_PRIORITIES, ACTION_STATUSES, MAX_ID, MEETING_OUTCOMES, utcnow
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


def bars(values: Sequence[dict[str, Any]], keys: Sequence[str], width: int = 480, height: int = 160) -> dict[str, Any]:
    """Grouped bars (one group per item, one bar per key) scaled to the tallest value, with a y axis (0 and the top
    value) and the date of every other group under the x axis (items carry a `week` datetime)."""
    left, bottom = 30, 36
    top = max([1.0] + [float(v[k]) for v in values for k in keys])
    group = (width - left - 10) / max(1, len(values))
    bar = max(2.0, group / (len(keys) + 1))
    plot = height - bottom - 10
    out = []
    for i, item in enumerate(values):
        for j, key in enumerate(keys):
            h = round(float(item[key]) / top * plot, 1)
            out.append({"x": round(left + i * group + j * bar, 1), "y": round(height - bottom - h, 1), "w": round(bar - 1, 1),
                        "h": h, "key": key, "value": item[key]})
    ticks = [{"x": round(left + i * group + group / 2, 1), "label": fmt_day(item["week"])}
             for i, item in enumerate(values) if i % 2 == 0 and "week" in item]
    return {"bars": out, "width": width, "height": height, "group": group, "top": top, "left": left,
            "base": height - bottom, "top_y": height - bottom - plot, "ticks": ticks, "top_label": f"{top:g}"}


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


def tone_chart(series: Sequence[tuple[datetime, float]], width: int = 480, height: int = 160) -> dict[str, Any]:
    """Tone over time: points placed by date, a y axis from -1 (negative) to +1 (positive), the first and last
    dates on the x axis."""
    left, right, top, bottom = 36, 14, 10, 26

    def y(v: float) -> float:
        return round(top + (1 - (v + 1) / 2) * (height - top - bottom), 1)

    axis = {"left": left, "right": width - right, "base": height - bottom + 16,
            "y_ticks": [{"y": y(v), "label": label} for v, label in ((1, "+1"), (0, "0"), (-1, "−1"))]}
    if not series:
        return {"points": "", "dots": [], "width": width, "height": height, "zero": y(0), "axis": axis, "x_ticks": []}
    start, end = series[0][0], series[-1][0]
    span = max(1.0, (end - start).total_seconds())
    dots = [{"x": round(left + (at - start).total_seconds() / span * (width - left - right), 1), "y": y(v), "v": v, "at": at}
            for at, v in series]
    x_ticks = [{"x": dots[0]["x"], "label": fmt_day(start), "anchor": "start"}]
    if len(dots) > 1:
        x_ticks.append({"x": dots[-1]["x"], "label": fmt_day(end), "anchor": "end"})
    return {"points": " ".join(f"{d['x']},{d['y']}" for d in dots), "dots": dots, "width": width, "height": height,
            "zero": y(0), "axis": axis, "x_ticks": x_ticks}


def fmt_day(value: date | datetime) -> str:
    """3 Mar (chart axis labels)."""
    return f"{value.day} {value:%b}"


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
        items = items_service.list_action_items(uow, g.principal, utcnow().date(), opportunity_id=opportunity_id)
        outcomes = meetings_service.outcomes_of(uow, [a["id"] for a in data["timeline"] if a["kind"] == "meeting"])
        awaiting = meetings_service.awaiting_outcome(uow, g.principal, utcnow(), opportunity_id=opportunity_id)
        compared = won_service.compared_with_won(uow, g.principal, opportunity_id)
    weekly = bars(data["weekly"], ("inbound", "outbound"))
    return render_template("dashboard/deal.html", data=data, tone=tone_chart(data["tone"]), weekly=weekly, items=items,
                           owner_kinds=ACTION_OWNER_KINDS, priorities=ACTION_PRIORITIES, outcomes=outcomes,
                           awaiting=awaiting, meeting_outcomes=MEETING_OUTCOMES, compared=compared)


@bp.post("/meetings/<int:activity_id>/outcome")
def record_meeting_outcome(activity_id: int) -> Response:
    """Record how a meeting went from the deal page; back to the deal."""
    values = {"outcome": request.form.get("outcome", ""), "next_step": _form_text("next_step", 500),
              "note": _form_text("note", 2000)}
    with app_db().uow() as uow:
        meetings_service.record_outcome(uow, g.principal, activity_id, values, utcnow())
    return _back(url_for("dashboard.pipeline_page"))


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
    """Per-rep review agenda: overdue action items on top, the three problem deals by risk x size within each
    currency with reasons, and the rep's open action items."""
    today = utcnow().date()
    with app_db().uow() as uow:
        reps = agenda_service.reps_for_agenda(uow, g.principal)
        rep_id = _int_arg("rep") or (reps[0]["id"] if g.principal.is_manager and reps else g.principal.user_id)
        agenda = agenda_service.review_agenda(uow, g.principal, rep_id)
        numbers = rep_numbers(uow, g.principal, agenda["rep"]["email"], today)
        items = items_service.list_action_items(uow, g.principal, today, rep_id=rep_id, status="open")
    return render_template("dashboard/agenda.html", agenda=agenda, reps=reps, rep_id=rep_id, numbers=numbers,
                           overdue=[i for i in items if i["overdue"]], items=[i for i in items if not i["overdue"]])


@bp.post("/reviews")
def start_review() -> Response:
    """Start the review of a rep now: the agenda is snapshotted and the review page opens."""
    rep_id = _form_int("rep_id")
    if rep_id is None:
        raise InvalidField([{"field": "rep_id", "message": "choose a rep", "type": "missing"}])
    with app_db().uow() as uow:
        review = reviews_service.start_review(uow, g.principal, rep_id, utcnow())
    return redirect(url_for("dashboard.review_page", review_id=review["id"]), code=303)


@bp.get("/reviews")
def review_history_page() -> str:
    """A rep's past reviews with their snapshots and action items, newest first."""
    with app_db().uow() as uow:
        reps = agenda_service.reps_for_agenda(uow, g.principal)
        rep_id = _int_arg("rep") or (reps[0]["id"] if g.principal.is_manager and reps else g.principal.user_id)
        reviews = reviews_service.review_history(uow, g.principal, rep_id, utcnow())
    rep = next((r for r in reps if r["id"] == rep_id), {"id": rep_id, "name": ""})
    return render_template("dashboard/reviews.html", reviews=reviews, reps=reps, rep=rep)


@bp.get("/reviews/<int:review_id>")
def review_page(review_id: int) -> str:
    """One review: its agenda snapshot, the items overdue when it started, and the action items agreed in it."""
    with app_db().uow() as uow:
        review = reviews_service.load_review(uow, g.principal, review_id, utcnow())
        deals = reviews_service.rep_open_deals(uow, g.principal, review["rep"]["id"])
    return render_template("dashboard/review.html", review=review, deals=deals, owner_kinds=ACTION_OWNER_KINDS,
                           priorities=ACTION_PRIORITIES, today=utcnow().date())


def plan_date(name: str, raw: str) -> date:
    """A form or query date as the dashboard takes it: YYYY-MM-DD in 2000..2100, else a 422 naming `name`."""
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise InvalidField([{"field": name, "message": "a date like 2026-03-31", "type": "date"}]) from None
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        raise InvalidField([{"field": name, "message": "between 2000-01-01 and 2100-12-31", "type": "date"}])
    return value


def _form_date(name: str) -> date:
    return plan_date(name, request.form.get(name, "").strip())


def _form_text(name: str, limit: int) -> str:
    value = request.form.get(name, "").strip()
    if len(value) > limit:
        raise InvalidField([{"field": name, "message": f"at most {limit} characters", "type": "string_too_long"}])
    return value


@bp.post("/action-items")
def create_action_item() -> Response:
    """Agree an action item (in a review when the form carries its id); back to where the form was."""
    opportunity_id = _form_int("opportunity_id")
    if opportunity_id is None:
        raise InvalidField([{"field": "opportunity_id", "message": "choose a deal", "type": "missing"}])
    values = {"obstacle": _form_text("obstacle", 1000), "owner_kind": request.form.get("owner_kind", ""),
              "owner_name": _form_text("owner_name", 200), "due_date": _form_date("due_date"),
              "priority": request.form.get("priority", "medium")}
    with app_db().uow() as uow:
        items_service.create_action_item(uow, g.principal, opportunity_id, values, _form_int("review_id"), utcnow().date())
    return _back(url_for("dashboard.deal_page", opportunity_id=opportunity_id))


@bp.post("/action-items/<int:item_id>/status")
def set_action_item_status(item_id: int) -> Response:
    """Mark an item done or dropped, or open it again."""
    status = request.form.get("status", "")
    if status not in ACTION_STATUSES:
        raise InvalidField([{"field": "status", "message": f"one of {', '.join(ACTION_STATUSES)}", "type": "enum"}])
    with app_db().uow() as uow:
        items_service.update_action_item(uow, g.principal, item_id, {"status": status}, utcnow().date())
    return _back(url_for("dashboard.pipeline_page"))



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


@bp.post("/deals/<int:opportunity_id>/forecast-category")
def set_forecast_category(opportunity_id: int) -> Response:
    """Set the deal's forecast category (pipeline, best case, commit, omitted); audited and version-guarded."""
    version = _form_int("version") or 0
    category = request.form.get("forecast_category", "")
    with app_db().uow() as uow:
        opp_service.update_opportunity(uow, g.principal, opportunity_id, version, {"forecast_category": category},
                                        alert_defaults=app_alert_defaults())
    return redirect(url_for("dashboard.deal_page", opportunity_id=opportunity_id) + "#forecast-category", code=303)
