"""Win-probability features of deals as of a moment: only what was known then (no activity, answer or role later).

Activity numbers come from the one-truth queries of `dynamics` (buyer contact, counts, last inbound, engagement) and
the tone trend from the alert rules' definition (`in_tone_trend`, `weighted_mean`, `is_strongly_negative`), each
evaluated at `at` instead of now. Stage, amount, close date and category come from `deal_history` states.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Iterable, Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ..domain.alert_rules import InboundScore, Thresholds, is_strongly_negative, weighted_mean
from ..store import Activity, ActivityContact, BuyingTeamMember, ExitAnswer, ExitQuestion, SentimentScore
from .deal_history import DealState
from .dynamics import deal_stats, engaged_contact, in_tone_trend, last_inbound_select

FEATURES = (
    "stage_position", "stage_probability", "log_days_in_stage", "log_age_days", "close_date_pushes",
    "days_to_close_date", "closes_in_period", "days_to_period_end", "log_inbound", "log_outbound",
    "days_since_inbound", "days_since_outbound", "outbound_since_inbound", "tone_trend", "has_tone",
    "strongly_negative", "log_meetings", "engaged_contacts", "roles_filled", "has_economic_buyer", "has_champion",
    "exit_answered_share", "log_amount_vs_median", "commit", "best_case",
)
RECENCY_CAP_DAYS = 180.0
CHUNK = 900


@dataclass(frozen=True)
class DealItems:
    """A deal's exit answers ("yes", with when) and buying-team roles (with since when)."""

    answers: tuple[tuple[int, str, datetime], ...]  # (stage_id of the question, question key, answered at)
    roles: tuple[tuple[str, datetime | None], ...]  # (role, since; None = before it was recorded)

    def present_at(self, stage_ids: Iterable[int], at: datetime) -> frozenset[str]:
        """Items the deal had at `at`: "question:<key>" answered yes for questions of `stage_ids`, "role:<role>"."""
        stages = set(stage_ids)
        out = {f"question:{key}" for sid, key, when in self.answers if sid in stages and when <= at}
        out.update(f"role:{role}" for role, since in self.roles if since is None or since <= at)
        return frozenset(out)


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i:i + CHUNK] for i in range(0, len(ids), CHUNK)]


def load_items(session: Session, opportunity_ids: Sequence[int]) -> dict[int, DealItems]:
    """Exit answers and buying-team roles of the given deals, with their times."""
    answers: dict[int, list[tuple[int, str, datetime]]] = defaultdict(list)
    roles: dict[int, list[tuple[str, datetime | None]]] = defaultdict(list)
    for part in _chunks(list(opportunity_ids)):
        for opp_id, stage_id, key, at in session.execute(
            select(ExitAnswer.opportunity_id, ExitQuestion.stage_id, ExitQuestion.key, ExitAnswer.answered_at)
            .join(ExitQuestion, ExitQuestion.id == ExitAnswer.question_id)
            .where(ExitAnswer.opportunity_id.in_(part), ExitAnswer.answer.is_(True))
        ):
            answers[opp_id].append((stage_id, key, at))
        for opp_id, role, since in session.execute(
            select(BuyingTeamMember.opportunity_id, BuyingTeamMember.role, BuyingTeamMember.added_at)
            .where(BuyingTeamMember.opportunity_id.in_(part))
        ):
            roles[opp_id].append((role, since))
    return {i: DealItems(tuple(answers.get(i, ())), tuple(roles.get(i, ()))) for i in opportunity_ids}


def question_keys(session: Session, stage_ids: Sequence[int]) -> dict[int, list[str]]:
    """The exit question keys of each stage."""
    out: dict[int, list[str]] = defaultdict(list)
    if stage_ids:
        for stage_id, key in session.execute(select(ExitQuestion.stage_id, ExitQuestion.key)
                                             .where(ExitQuestion.stage_id.in_(list(stage_ids))).order_by(ExitQuestion.position)):
            out[stage_id].append(key)
    return out


def _days(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 86400


def _log(x: float) -> float:
    return math.log1p(max(0.0, x))


def features_as_of(
    session: Session, states: Sequence[DealState], at: datetime, period_end: date, *,
    amount_median: float | None = None, thresholds: Thresholds | None = None,
) -> dict[int, dict[str, float]]:
    """The feature vector (FEATURES) of each deal state at `at`, for winning before `period_end` (exclusive)."""
    if not states:
        return {}
    t = thresholds or Thresholds()
    ids = [s.opportunity_id for s in states]
    stats: dict = {}
    chasers: dict[int, int] = {}
    tone: dict[int, list[InboundScore]] = defaultdict(list)
    engaged: dict[int, int] = {}
    for part in _chunks(ids):
        stats.update(deal_stats(session, part, at))
        li = last_inbound_select(at, Activity.opportunity_id.in_(part)).subquery()
        chasers.update(session.execute(
            select(Activity.opportunity_id, func.count())
            .outerjoin(li, li.c.opp_id == Activity.opportunity_id)
            .where(Activity.opportunity_id.in_(part), Activity.direction == "outbound", Activity.kind == "email",
                   Activity.occurred_at <= at, or_(li.c.last_at.is_(None), Activity.occurred_at > li.c.last_at))
            .group_by(Activity.opportunity_id)
        ).all())
        for row in session.execute(
            select(Activity.id, Activity.opportunity_id, Activity.occurred_at, SentimentScore.score, SentimentScore.label,
                   SentimentScore.confidence, SentimentScore.probabilities)
            .join(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
            .where(Activity.opportunity_id.in_(part), in_tone_trend(), Activity.occurred_at <= at)
            .order_by(Activity.opportunity_id, Activity.occurred_at, Activity.id)
        ):
            p_negative = (row.probabilities or {}).get("negative")
            tone[row.opportunity_id].append(InboundScore(
                row.id, row.occurred_at, float(row.score), row.label, float(row.confidence or 0.0),
                p_negative=float(p_negative) if isinstance(p_negative, (int, float)) else None))
        engaged.update(session.execute(
            select(Activity.opportunity_id, func.count(func.distinct(ActivityContact.contact_id)))
            .join(ActivityContact, ActivityContact.activity_id == Activity.id)
            .where(Activity.opportunity_id.in_(part), engaged_contact(at, at - timedelta(days=t.single_threaded_days)))
            .group_by(Activity.opportunity_id)
        ).all())
    items = load_items(session, ids)
    questions = question_keys(session, sorted({s.stage.id for s in states}))
    positive_amounts = [s.amount for s in states if s.amount > 0]
    mid = amount_median if amount_median else (median(positive_amounts) if positive_amounts else 1.0)
    out: dict[int, dict[str, float]] = {}
    for s in states:
        st = stats.get(s.opportunity_id)
        inbound, outbound, meetings = (st.inbound, st.outbound, st.meetings) if st else (0, 0, 0)
        last_in = st.last_inbound_at if st else None
        last_out = st.last_outbound_at if st else None
        age = _days(at, s.created_at)
        scores = tone.get(s.opportunity_id, [])
        recent = [x.score for x in scores[-t.tone_window:]]
        present = items[s.opportunity_id].present_at({s.stage.id}, at)
        stage_questions = questions.get(s.stage.id, [])
        answered = sum(1 for k in stage_questions if f"question:{k}" in present)
        roles = {i.split(":", 1)[1] for i in present if i.startswith("role:")}
        to_close = (s.close_date - at.date()).days if s.close_date else 90
        out[s.opportunity_id] = {
            "stage_position": float(s.stage.position),
            "stage_probability": s.stage.probability / 100.0,
            "log_days_in_stage": _log(_days(at, s.stage_entered_at)),
            "log_age_days": _log(age),
            "close_date_pushes": float(min(s.close_date_pushes, 5)),
            "days_to_close_date": max(-RECENCY_CAP_DAYS, min(RECENCY_CAP_DAYS, float(to_close))) / 30.0,
            "closes_in_period": 1.0 if s.close_date is not None and s.close_date < period_end else 0.0,
            "days_to_period_end": max(0.0, float((period_end - at.date()).days)) / 30.0,
            "log_inbound": _log(inbound),
            "log_outbound": _log(outbound),
            "days_since_inbound": min(RECENCY_CAP_DAYS, _days(at, last_in) if last_in else age) / 30.0,
            "days_since_outbound": min(RECENCY_CAP_DAYS, _days(at, last_out) if last_out else age) / 30.0,
            "outbound_since_inbound": float(min(chasers.get(s.opportunity_id, 0), 10)),
            "tone_trend": weighted_mean(recent, t.tone_alpha) if recent else 0.0,
            "has_tone": 1.0 if recent else 0.0,
            "strongly_negative": float(sum(1 for x in scores if is_strongly_negative(x, t))),
            "log_meetings": _log(meetings),
            "engaged_contacts": float(min(engaged.get(s.opportunity_id, 0), 10)),
            "roles_filled": float(len(roles)),
            "has_economic_buyer": 1.0 if "economic_buyer" in roles else 0.0,
            "has_champion": 1.0 if "champion" in roles else 0.0,
            "exit_answered_share": answered / len(stage_questions) if stage_questions else 0.0,
            "log_amount_vs_median": math.log(max(s.amount, 1.0) / max(mid, 1.0)),
            "commit": 1.0 if s.forecast_category == "commit" else 0.0,
            "best_case": 1.0 if s.forecast_category == "best_case" else 0.0,
        }
    return out
