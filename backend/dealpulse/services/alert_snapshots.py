"""Reading deals for the alert rules: each deal's snapshot (last inbound, chasing, tone trend with calibrated
evidence, unanswered exit questions, engaged contacts, time in stage against the organisation's percentiles) with
the thresholds of its owner's team, in a handful of grouped queries per organisation (never one per deal)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..config import Settings
from ..domain.alert_rules import DealSnapshot, InboundScore, StagePercentiles, Thresholds, completed_stays, stage_percentiles
from ..sentiment.evidence import is_pleasantry
from ..store import (
    Activity,
    ActivityContact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    SentimentScore,
    Stage,
    StageTransition,
    Team,
    User,
)
from ..store.sentiment import current_scores
from .dynamics import engaged_contact, in_tone_trend, last_inbound_select
from .won_comparison import deal_gaps, forget_won_stats

PERCENTILE_TTL_SECONDS = 600.0
CHUNK = 900


@dataclass(frozen=True)
class DealContext:
    """A deal's snapshot with who owns it and the thresholds of the owner's team."""

    snapshot: DealSnapshot
    org_id: int
    owner_id: int
    team_id: int | None
    thresholds: Thresholds


def in_chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    """`ids` in slices small enough for an IN list on every database."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def default_thresholds(settings: Settings) -> Thresholds:
    """The thresholds every team starts from: the class defaults and the configured alert probability (callers
    pass them to the evaluation as `alert_defaults`)."""
    return Thresholds(negative_probability=settings.negative_alert_probability)


def team_thresholds(s: Session, org_id: int, defaults: Thresholds) -> dict[int | None, Thresholds]:
    """Thresholds of every team of the organisation (None: deals whose owner has no team), from `defaults`."""
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
    s: Session, org_id: int, now: datetime, opportunity_ids: Sequence[int] | None = None, *, alert_defaults: Thresholds,
    fresh_percentiles: bool = False,
) -> list[DealContext]:
    """Snapshots of the given deals (every open deal of the organisation when None), in a few grouped queries;
    `alert_defaults` (see `default_thresholds`) are what teams without their own settings use."""
    ids = list(opportunity_ids) if opportunity_ids is not None else None
    if ids is not None and len(ids) > CHUNK:
        out: list[DealContext] = []
        for part in in_chunks(ids):
            out.extend(load_contexts(s, org_id, now, part, alert_defaults=alert_defaults, fresh_percentiles=fresh_percentiles))
        return out
    thresholds = team_thresholds(s, org_id, alert_defaults)
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
    for stored in current_scores(s, wanted).values():
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
