"""Use cases of early warnings: read deal snapshots in bulk, apply the rules, move alerts through their states.

`evaluate_opportunities` is the one engine behind the incremental hooks, the periodic sweep and `run_alerts`.
Reads are a handful of grouped queries per organisation (never one query per deal), so a full evaluation of
10,000 deals stays within seconds; writes are bulk statements.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..config import Settings
from ..domain import alert_state
from ..domain.access import Principal
from ..domain.alert_rules import (
    DealSnapshot,
    Finding,
    InboundScore,
    StagePercentiles,
    Thresholds,
    completed_stays,
    evaluate,
    skipped_rules,
    stage_percentiles,
)
from ..domain.health import Health, Signal, health
from ..sentiment.evidence import is_pleasantry
from ..store import (
    Activity,
    ActivityContact,
    Alert,
    AlertDelivery,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Organisation,
    SentimentScore,
    Stage,
    StageTransition,
    Team,
    User,
    utcnow,
)
from ..store.database import Database
from ..store.uow import UnitOfWork
from .audit import record_changes
from .dynamics import engaged_contact, in_tone_trend, last_inbound_select
from .errors import ConflictError, InvalidField, NotFoundError
from .visibility import load_visible, visibility_clause
from .won_comparison import deal_gaps, forget_won_stats

log = logging.getLogger(__name__)

UNRESOLVED = ("open", "acknowledged")
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
PERCENTILE_TTL_SECONDS = 600.0
CHUNK = 900


# ---------------------------------------------------------------- reading snapshots


@dataclass(frozen=True)
class DealContext:
    """A deal's snapshot with who owns it and the thresholds of the owner's team."""

    snapshot: DealSnapshot
    org_id: int
    owner_id: int
    team_id: int | None
    thresholds: Thresholds


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


_process_defaults: dict[str, float] = {}


def configure_alert_defaults(settings: Settings | None) -> None:
    """Apply the settings' organisation-wide alert defaults (entry points call it through `runtime.configure`)."""
    _process_defaults.clear()
    if settings is not None:
        _process_defaults["negative_probability"] = settings.negative_alert_probability


def default_thresholds() -> Thresholds:
    """The thresholds every team starts from: the class defaults and the configured alert probability."""
    return Thresholds(**_process_defaults)


def team_thresholds(s: Session, org_id: int) -> dict[int | None, Thresholds]:
    """Thresholds of every team of the organisation (None: deals whose owner has no team)."""
    defaults = default_thresholds()
    out: dict[int | None, Thresholds] = {None: defaults}
    for team_id, days, settings in s.execute(
        select(Team.id, Team.gone_dark_after_days, Team.settings).where(Team.org_id == org_id)
    ):
        out[team_id] = Thresholds.from_team(days, settings, defaults)
    return out


_percentile_cache: dict[tuple[str, int, int, int], tuple[float, StagePercentiles]] = {}
_percentile_lock = threading.Lock()


def org_stage_percentiles(s: Session, org_id: int, pct: int, min_sample: int, *, fresh: bool = False) -> StagePercentiles:
    """Time-in-stage percentiles of the organisation's history (cached for ten minutes per process)."""
    key = (str(s.get_bind().url), org_id, pct, min_sample)
    with _percentile_lock:
        cached = _percentile_cache.get(key)
    if cached is not None and not fresh and time.monotonic() - cached[0] < PERCENTILE_TTL_SECONDS:
        return cached[1]
    rows = s.execute(
        select(StageTransition.opportunity_id, StageTransition.to_stage_id, StageTransition.at, User.team_id)
        .join(Opportunity, Opportunity.id == StageTransition.opportunity_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(Opportunity.org_id == org_id)
    ).all()
    team_of = {opp_id: team_id for opp_id, _, _, team_id in rows}
    stays = completed_stays([(opp_id, stage_id, at) for opp_id, stage_id, at, _ in rows])
    result = stage_percentiles([(team_of[o], st, d) for o, st, d in stays], pct, min_sample)
    with _percentile_lock:
        _percentile_cache[key] = (time.monotonic(), result)
    return result


def forget_percentiles() -> None:
    """Drop cached percentiles and won-deal statistics (tests, after bulk imports)."""
    with _percentile_lock:
        _percentile_cache.clear()
    forget_won_stats()


def _opp_filter(column: Any, ids: Sequence[int] | None) -> Any:
    return column.in_(ids) if ids is not None else column.is_not(None)


def load_contexts(
    s: Session, org_id: int, now: datetime, opportunity_ids: Sequence[int] | None = None, *, fresh_percentiles: bool = False
) -> list[DealContext]:
    """Snapshots of the given deals (every open deal of the organisation when None), in a few grouped queries."""
    ids = list(opportunity_ids) if opportunity_ids is not None else None
    if ids is not None and len(ids) > CHUNK:
        out: list[DealContext] = []
        for part in _chunks(ids):
            out.extend(load_contexts(s, org_id, now, part, fresh_percentiles=fresh_percentiles))
        return out
    thresholds = team_thresholds(s, org_id)
    opp_query = (
        select(
            Opportunity.id, Opportunity.name, Opportunity.stage_id, Opportunity.probability, Opportunity.amount,
            Opportunity.close_date, Opportunity.close_date_pushes, Opportunity.stage_entered_at, Opportunity.created_at,
            Opportunity.owner_id, Stage.key, Stage.name, Stage.probability, Stage.is_closed, User.team_id,
        )
        .join(Stage, Stage.id == Opportunity.stage_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(Opportunity.org_id == org_id)
    )
    opp_query = opp_query.where(Opportunity.id.in_(ids)) if ids is not None else opp_query.where(Stage.is_closed.is_(False))
    opps = s.execute(opp_query).all()
    if not opps:
        return []
    open_ids = [row[0] for row in opps if not row[13]]
    scope = open_ids if ids is not None else None

    last_inbound_q = last_inbound_select(now, Activity.org_id == org_id, _opp_filter(Activity.opportunity_id, scope))
    last_inbound = {opp: at for opp, at in s.execute(last_inbound_q)} if open_ids else {}
    li = last_inbound_q.subquery()
    outbound = dict(
        s.execute(
            select(Activity.opportunity_id, func.count())
            .outerjoin(li, li.c.opp_id == Activity.opportunity_id)
            .where(
                Activity.org_id == org_id, _opp_filter(Activity.opportunity_id, scope),
                Activity.direction == "outbound", Activity.kind == "email", Activity.occurred_at <= now,
                or_(li.c.last_at.is_(None), Activity.occurred_at > li.c.last_at),
            )
            .group_by(Activity.opportunity_id)
        ).all()
    ) if open_ids else {}

    depth = 2 * max(t.tone_window for t in thresholds.values())
    ranked = (
        select(
            Activity.id.label("activity_id"), Activity.opportunity_id.label("opp_id"), Activity.occurred_at,
            Activity.is_private, SentimentScore.score, SentimentScore.label, SentimentScore.confidence,
            func.row_number().over(partition_by=Activity.opportunity_id, order_by=(Activity.occurred_at.desc(), Activity.id.desc())).label("rn"),
        )
        .join(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
        .where(Activity.org_id == org_id, _opp_filter(Activity.opportunity_id, scope), in_tone_trend())
        .subquery()
    )
    scores: dict[int, list[InboundScore]] = defaultdict(list)
    if open_ids:
        for row in s.connection().execute(select(ranked).where(ranked.c.rn <= depth).order_by(ranked.c.opp_id, ranked.c.occurred_at, ranked.c.activity_id)):
            scores[row.opp_id].append(
                InboundScore(row.activity_id, row.occurred_at, float(row.score), row.label, float(row.confidence or 0.0), bool(row.is_private))
            )
    _attach_highlights(s, scores, thresholds)

    unanswered: dict[int, list[str]] = defaultdict(list)
    if open_ids:
        for opp_id, text in s.execute(
            select(Opportunity.id, ExitQuestion.text)
            .join(ExitQuestion, ExitQuestion.stage_id == Opportunity.stage_id)
            .outerjoin(ExitAnswer, and_(ExitAnswer.opportunity_id == Opportunity.id, ExitAnswer.question_id == ExitQuestion.id))
            .where(Opportunity.org_id == org_id, _opp_filter(Opportunity.id, scope), ExitAnswer.answer.is_(None))
            .order_by(Opportunity.id, ExitQuestion.position)
        ):
            unanswered[opp_id].append(text)

    engaged: dict[tuple[int, int], int] = {}
    for window in {t.single_threaded_days for t in thresholds.values()} if open_ids else ():
        for opp_id, count in s.execute(
            select(Activity.opportunity_id, func.count(func.distinct(ActivityContact.contact_id)))
            .join(ActivityContact, ActivityContact.activity_id == Activity.id)
            .where(Activity.org_id == org_id, _opp_filter(Activity.opportunity_id, scope),
                   engaged_contact(now, now - timedelta(days=window)))
            .group_by(Activity.opportunity_id)
        ):
            engaged[(window, opp_id)] = int(count)

    gaps = deal_gaps(s, org_id, open_ids, now, fresh=fresh_percentiles) if open_ids else {}
    percentiles: dict[tuple[int, int], StagePercentiles] = {}
    contexts = []
    for (opp_id, name, stage_id, probability, amount, close_at, pushes, entered, created, owner_id,
         stage_key, stage_name, stage_probability, is_closed, team_id) in opps:
        t = thresholds.get(team_id, thresholds[None])
        pkey = (t.stalled_percentile, t.stalled_min_sample)
        if not is_closed and pkey not in percentiles:
            percentiles[pkey] = org_stage_percentiles(s, org_id, *pkey, fresh=fresh_percentiles)
        days, basis = percentiles[pkey].for_deal(team_id, stage_id) if not is_closed else (None, "")
        snapshot = DealSnapshot(
            opportunity_id=opp_id, name=name, stage_key=stage_key, stage_name=stage_name,
            stage_probability=stage_probability, is_closed=bool(is_closed), probability=probability or 0,
            amount=float(amount or 0), close_date=close_at, close_date_pushes=pushes or 0,
            stage_entered_at=entered, created_at=created, last_inbound_at=last_inbound.get(opp_id),
            outbound_since_last_inbound=int(outbound.get(opp_id, 0)), inbound_scores=tuple(scores.get(opp_id, ())),
            unanswered_questions=tuple(unanswered.get(opp_id, ())),
            engaged_contacts=engaged.get((t.single_threaded_days, opp_id), 0),
            stage_percentile_days=days, stage_percentile_basis=basis,
            won_gaps=tuple(g.as_dict() for g in gaps.get(opp_id, ())),
        )
        contexts.append(DealContext(snapshot, org_id, owner_id, team_id, t))
    return contexts


def _attach_highlights(s: Session, scores: dict[int, list[InboundScore]], thresholds: dict[int | None, Thresholds]) -> None:
    """Calibrated P(negative) and the stance-carrying evidence, only for latest inbound emails read as negative."""
    wanted = {rows[-1].activity_id: opp for opp, rows in scores.items() if rows and rows[-1].label == "negative"}
    if not wanted:
        return
    loosest = min(t.negative_probability for t in thresholds.values())
    for part in _chunks(sorted(wanted)):
        for stored in s.scalars(
            select(SentimentScore).where(SentimentScore.activity_id.in_(part), SentimentScore.is_current.is_(True))
        ):
            rows = scores[wanted[stored.activity_id]]
            latest = rows[-1]
            p_negative = (stored.probabilities or {}).get("negative")
            if isinstance(p_negative, (int, float)):
                latest = replace(latest, p_negative=float(p_negative))
            if not latest.is_private and latest.negative_probability >= loosest:
                latest = replace(latest, highlights=tuple(evidence_for(stored)))
            rows[-1] = latest


def evidence_for(stored: SentimentScore) -> list[dict[str, Any]]:
    """A score's leave-one-out evidence (stored by scoring for recent negative inbound emails); without it, the
    stored highlights less any that is only a pleasantry."""
    if stored.evidence is not None:
        return [h for h in stored.evidence if isinstance(h, dict)]
    return [h for h in (stored.highlights or []) if isinstance(h, dict) and not is_pleasantry(str(h.get("text", "")))]


# ---------------------------------------------------------------- evaluating


@dataclass
class EvaluationSummary:
    """What an evaluation did."""

    evaluated: int = 0
    opened: int = 0
    reopened: int = 0
    updated: int = 0
    resolved: int = 0
    new_alert_ids: list[int] = field(default_factory=list)

    def add(self, other: "EvaluationSummary") -> None:
        """Accumulate another summary."""
        self.evaluated += other.evaluated
        self.opened += other.opened
        self.reopened += other.reopened
        self.updated += other.updated
        self.resolved += other.resolved
        self.new_alert_ids.extend(other.new_alert_ids)


def _facts(alert: Any) -> alert_state.AlertFacts:
    return alert_state.AlertFacts(state=alert.state, rearm_at=alert.rearm_at, resolution=alert.resolution or "")


def evaluate_opportunities(
    uow: UnitOfWork,
    org_id: int,
    opportunity_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    *,
    webhook: bool = False,
    commit: bool = True,
    fresh_percentiles: bool = False,
) -> EvaluationSummary:
    """Apply every rule to the given deals (all open deals when None) and move their alerts; commits by default."""
    now = now or utcnow()
    s = uow.s
    contexts = load_contexts(s, org_id, now, opportunity_ids, fresh_percentiles=fresh_percentiles)
    evaluated_ids = [c.snapshot.opportunity_id for c in contexts]
    alert_query = select(Alert.id, Alert.opportunity_id, Alert.rule, Alert.state, Alert.rearm_at, Alert.resolution,
                         Alert.reason, Alert.severity).where(Alert.org_id == org_id, Alert.state.in_(UNRESOLVED))
    current: dict[tuple[int, str], Any] = {}
    muted: dict[tuple[int, str], Any] = {}
    scopes = [None] if opportunity_ids is None else list(_chunks(evaluated_ids))
    for part in scopes:
        q = alert_query if part is None else alert_query.where(Alert.opportunity_id.in_(part))
        for row in s.execute(q):
            current[(row.opportunity_id, row.rule)] = row
        mq = (select(Alert.opportunity_id, Alert.rule, func.max(Alert.rearm_at).label("rearm_at"))
              .where(Alert.org_id == org_id, Alert.state == "resolved", Alert.resolution == "manual", Alert.rearm_at > now)
              .group_by(Alert.opportunity_id, Alert.rule))
        if part is not None:
            mq = mq.where(Alert.opportunity_id.in_(part))
        for row in s.execute(mq):
            muted[(row.opportunity_id, row.rule)] = alert_state.AlertFacts("resolved", row.rearm_at, "manual")

    summary = EvaluationSummary(evaluated=len(contexts))
    opens: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    reopen_ids: list[int] = []
    resolve_ids: list[int] = []
    touched_ids: list[int] = []
    for ctx in contexts:
        opp_id = ctx.snapshot.opportunity_id
        findings = evaluate(ctx.snapshot, ctx.thresholds, now)
        for rule, finding in findings.items():
            row = current.pop((opp_id, rule), None)
            decision = alert_state.decide(_facts(row) if row else None, muted.get((opp_id, rule)), finding is not None, now)
            if decision.action == "open":
                assert finding is not None
                opens.append(_new_alert(org_id, opp_id, finding, now))
            elif decision.action == "resolve":
                resolve_ids.append(row.id)
            elif decision.action in ("update", "reopen"):
                assert finding is not None and row is not None
                touched_ids.append(row.id)
                if decision.action == "reopen":
                    reopen_ids.append(row.id)
                if (row.reason, row.severity) != (finding.reason, finding.severity):  # evidence changes show in the reason
                    changes.append({"id": row.id, "reason": finding.reason, "severity": finding.severity,
                                    "evidence": finding.evidence})
    # What is left: alerts of deals no longer open (full sweep) and of rules that no longer exist.
    resolve_ids.extend(row.id for row in current.values())
    summary.new_alert_ids = _insert_alerts(s, opens, now)
    summary.opened = len(summary.new_alert_ids)
    if changes:
        s.execute(update(Alert), changes)
    for part in _chunks(touched_ids):
        s.execute(update(Alert).where(Alert.id.in_(part)).values(last_evaluated_at=now).execution_options(synchronize_session=False))
    for part in _chunks(reopen_ids):
        s.execute(update(Alert).where(Alert.id.in_(part), Alert.state == "acknowledged").values(
            state="open", opened_at=now, acknowledged_at=None, acknowledged_by_id=None, rearm_at=None,
        ).execution_options(synchronize_session=False))
    for part in _chunks(resolve_ids):
        s.execute(update(Alert).where(Alert.id.in_(part), Alert.state.in_(UNRESOLVED)).values(
            state="resolved", resolved_at=now, resolution="auto", resolved_by_id=None, last_evaluated_at=now,
        ).execution_options(synchronize_session=False))
    summary.reopened, summary.updated, summary.resolved = len(reopen_ids), len(changes), len(resolve_ids)
    if webhook:
        queue_webhooks(s, summary.new_alert_ids + reopen_ids)
    if commit:
        uow.commit()
    return summary


def _new_alert(org_id: int, opp_id: int, finding: Finding, now: datetime) -> dict[str, Any]:
    return {"org_id": org_id, "opportunity_id": opp_id, "rule": finding.rule, "state": "open",
            "severity": finding.severity, "reason": finding.reason, "evidence": finding.evidence,
            "opened_at": now, "last_evaluated_at": now, "resolution": ""}


def _insert_alerts(s: Session, rows: list[dict[str, Any]], now: datetime) -> list[int]:
    """Insert new alerts in bulk; if a concurrent evaluation got there first, fall back row by row (savepoints)."""
    if not rows:
        return []
    try:
        with s.begin_nested():
            return list(s.scalars(insert(Alert).returning(Alert.id), rows))
    except IntegrityError:
        log.info("concurrent alert evaluation: inserting %d alert(s) one by one", len(rows))
    ids = []
    for row in rows:
        try:
            with s.begin_nested():
                ids.append(s.scalar(insert(Alert).returning(Alert.id), row))
        except IntegrityError:
            # Someone else opened the same (deal, rule) alert a moment ago: keep theirs, refresh its reason.
            s.execute(update(Alert).where(Alert.opportunity_id == row["opportunity_id"], Alert.rule == row["rule"],
                                          Alert.state.in_(UNRESOLVED))
                      .values(reason=row["reason"], severity=row["severity"], evidence=row["evidence"], last_evaluated_at=now)
                      .execution_options(synchronize_session=False))
    return ids


def queue_webhooks(s: Session, alert_ids: Sequence[int]) -> None:
    """A pending webhook delivery for each newly opened or re-opened alert (sent by the delivery task)."""
    if alert_ids:
        now = utcnow()
        s.execute(insert(AlertDelivery), [{"alert_id": i, "channel": "webhook", "status": "pending", "attempts": 0,
                                           "created_at": now} for i in alert_ids])


def evaluate_activities(uow: UnitOfWork, activity_ids: Sequence[int], now: datetime | None = None, *, webhook: bool = False) -> EvaluationSummary:
    """Re-evaluate the deals the given activities belong to (the incremental path)."""
    summary = EvaluationSummary()
    ids = sorted(set(int(i) for i in activity_ids))
    pairs: set[tuple[int, int]] = set()
    for part in _chunks(ids):
        pairs.update(uow.s.execute(
            select(Activity.org_id, Activity.opportunity_id).where(Activity.id.in_(part), Activity.opportunity_id.is_not(None))
        ).all())
    by_org: dict[int, list[int]] = defaultdict(list)
    for org_id, opp_id in pairs:
        by_org[org_id].append(opp_id)
    for org_id, opp_ids in sorted(by_org.items()):
        summary.add(evaluate_opportunities(uow, org_id, sorted(opp_ids), now, webhook=webhook))
    return summary


def evaluate_all(db: Database, settings: Settings, org_id: int | None = None, now: datetime | None = None) -> EvaluationSummary:
    """Evaluate every open deal of one organisation (or all): the periodic sweep and the CLI."""
    summary = EvaluationSummary()
    with db.uow() as uow:
        orgs = [org_id] if org_id is not None else list(uow.s.scalars(select(Organisation.id).order_by(Organisation.id)))
    for org in orgs:
        with db.uow() as uow:
            summary.add(evaluate_opportunities(uow, org, None, now, webhook=bool(settings.webhook_url), fresh_percentiles=True))
    return summary


def run_alerts(db: Database, settings: Settings, org_id: int | None = None, now: datetime | None = None) -> int:
    """Evaluate everything (see `evaluate_all`) and return how many alerts are unresolved afterwards (the demo)."""
    evaluate_all(db, settings, org_id, now)
    with db.uow() as uow:
        query = select(func.count()).select_from(Alert).where(Alert.state.in_(UNRESOLVED))
        if org_id is not None:
            query = query.where(Alert.org_id == org_id)
        return uow.s.scalar(query) or 0


# ---------------------------------------------------------------- reading alerts as a person


def alert_view(alert: Alert, opp_name: str = "", owner_name: str = "") -> dict[str, Any]:
    """The JSON shape of an alert."""
    return {
        "id": alert.id, "opportunity_id": alert.opportunity_id, "opportunity": opp_name, "owner": owner_name,
        "rule": alert.rule, "state": alert.state, "severity": alert.severity, "reason": alert.reason,
        "evidence": dict(alert.evidence or {}), "opened_at": alert.opened_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolution": alert.resolution or None, "rearm_at": alert.rearm_at.isoformat() if alert.rearm_at else None,
    }


def _sort_key(alert: Alert) -> tuple[int, float]:
    return SEVERITY_ORDER.get(alert.severity, 3), -alert.opened_at.timestamp()


def alert_feed(
    uow: UnitOfWork, principal: Principal, state: str = "unresolved", opportunity_id: int | None = None,
    owner_id: int | None = None, limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts on deals the principal may see, most severe and newest first."""
    states = {"unresolved": UNRESOLVED, "open": ("open",), "acknowledged": ("acknowledged",), "resolved": ("resolved",),
              "all": ("open", "acknowledged", "resolved")}.get(state)
    if states is None:
        raise InvalidField([{"field": "state", "message": "one of unresolved, open, acknowledged, resolved, all", "type": "enum"}])
    query = (
        select(Alert, Opportunity.name, User.name)
        .join(Opportunity, Opportunity.id == Alert.opportunity_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(visibility_clause(principal), Alert.state.in_(states))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if opportunity_id is not None:
        query = query.where(Alert.opportunity_id == opportunity_id)
    if owner_id is not None:
        query = query.where(Opportunity.owner_id == owner_id)
    rows = uow.s.execute(query).all()
    rows.sort(key=lambda r: _sort_key(r[0]))
    return [alert_view(a, opp, owner) for a, opp, owner in rows]


def open_alerts_for(uow: UnitOfWork, principal: Principal, opportunity_id: int) -> list[dict[str, Any]]:
    """The unresolved alerts of one deal the principal may see (for the sidebar); NotFoundError otherwise."""
    opp = load_visible(uow.s, principal, opportunity_id)
    rows = uow.s.scalars(select(Alert).where(Alert.opportunity_id == opp.id, Alert.state.in_(UNRESOLVED))).all()
    return [alert_view(a, opp.name) for a in sorted(rows, key=_sort_key)]


def health_of(alerts: Iterable[Any]) -> Health:
    """Health from a deal's unresolved alerts."""
    return health(Signal(a.rule, a.severity, a.reason) for a in alerts)


def health_by_opportunity(s: Session, opportunity_ids: Sequence[int]) -> dict[int, Health]:
    """Health of each deal from its unresolved alerts (deals without alerts score 100)."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for part in _chunks(list(opportunity_ids)):
        for row in s.execute(select(Alert.opportunity_id, Alert.rule, Alert.severity, Alert.reason)
                             .where(Alert.opportunity_id.in_(part), Alert.state.in_(UNRESOLVED))):
            grouped[row.opportunity_id].append(row)
    healthy = health(())
    return {opp_id: health_of(grouped[opp_id]) if opp_id in grouped else healthy for opp_id in opportunity_ids}


def deal_health(uow: UnitOfWork, principal: Principal, opportunity_id: int, now: datetime | None = None) -> dict[str, Any]:
    """A deal's health now: every rule evaluated afresh, with the reasons and rules that could not be evaluated."""
    now = now or utcnow()
    opp = load_visible(uow.s, principal, opportunity_id)
    contexts = load_contexts(uow.s, opp.org_id, now, [opp.id])
    ctx = contexts[0]
    findings = [f for f in evaluate(ctx.snapshot, ctx.thresholds, now).values() if f is not None]
    h = health(Signal(f.rule, f.severity, f.reason) for f in findings)
    return {
        "opportunity_id": opp.id, "score": h.score, "band": h.band, "evaluated_at": now.isoformat(),
        "reasons": [{"rule": f.rule, "severity": f.severity, "reason": f.reason, "evidence": f.evidence}
                    for f in sorted(findings, key=lambda f: [r.rule for r in h.reasons].index(f.rule))],
        "skipped": skipped_rules(ctx.snapshot),
    }


# ---------------------------------------------------------------- people acting on alerts


def _visible_alert(uow: UnitOfWork, principal: Principal, alert_id: int) -> Alert:
    alert = uow.s.get(Alert, alert_id)
    if alert is None or alert.org_id != principal.org_id:
        raise NotFoundError(f"alert {alert_id} not found")
    load_visible(uow.s, principal, alert.opportunity_id)
    return alert


def _rearm_after(s: Session, alert: Alert) -> timedelta:
    team_id = s.scalar(select(User.team_id).join(Opportunity, Opportunity.owner_id == User.id).where(Opportunity.id == alert.opportunity_id))
    if team_id is None:
        return default_thresholds().rearm_after
    days, settings = s.execute(select(Team.gone_dark_after_days, Team.settings).where(Team.id == team_id)).one()
    return Thresholds.from_team(days, settings, default_thresholds()).rearm_after


def acknowledge_alert(uow: UnitOfWork, principal: Principal, alert_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Acknowledge an open alert: quiet until its re-arm time if the condition still holds; commits."""
    now = now or utcnow()
    alert = _visible_alert(uow, principal, alert_id)
    try:
        decision = alert_state.acknowledge(_facts(alert), now, _rearm_after(uow.s, alert))
    except alert_state.TransitionError as exc:
        raise ConflictError(str(exc)) from None
    alert.state, alert.acknowledged_at, alert.acknowledged_by_id, alert.rearm_at = "acknowledged", now, principal.user_id, decision.rearm_at
    record_changes(uow.s, principal, "alert", alert.id, alert.org_id, {"state": ("open", "acknowledged")})
    uow.commit()
    return alert_view(alert)


def resolve_alert(uow: UnitOfWork, principal: Principal, alert_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Resolve an alert by hand; if its condition still holds a new alert opens after the re-arm time; commits."""
    now = now or utcnow()
    alert = _visible_alert(uow, principal, alert_id)
    try:
        decision = alert_state.resolve(_facts(alert), now, _rearm_after(uow.s, alert))
    except alert_state.TransitionError as exc:
        raise ConflictError(str(exc)) from None
    old = alert.state
    alert.state, alert.resolved_at, alert.resolved_by_id = "resolved", now, principal.user_id
    alert.resolution, alert.rearm_at = "manual", decision.rearm_at
    record_changes(uow.s, principal, "alert", alert.id, alert.org_id, {"state": (old, "resolved")})
    uow.commit()
    return alert_view(alert)

