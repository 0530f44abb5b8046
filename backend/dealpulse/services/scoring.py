"""Use cases of tone scoring: score activities with their organisation's active version, sweep, re-score."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import and_, select, update

from ..sentiment.active import ActiveScorers
from ..sentiment.evidence import stance_evidence
from ..sentiment.preprocess import prepare_text
from ..store import Activity, SentimentScore, insert_new_scores, utcnow
from ..store.uow import UnitOfWork
from .alert_hooks import on_scores_stored
from .alert_snapshots import default_thresholds

log = logging.getLogger(__name__)

SCORED_KINDS = ("email",)
SWEEP_LIMIT = 500
# Evidence for an alert is computed for inbound negative emails this recent (the alert's own window is 14 days;
# a team may set a longer one, and without stored evidence the alert quotes the highlights, never a pleasantry).
EVIDENCE_WINDOW = timedelta(days=31)


@dataclass(frozen=True)
class ScoringOutcome:
    """What a scoring call did: how many activities got a new score, and under which versions."""

    scored: int
    versions: tuple[str, ...]
    activity_ids: tuple[int, ...]


def score_activities(uow: UnitOfWork, activity_ids: Iterable[int], *, scorers: ActiveScorers) -> ScoringOutcome:
    """Score the emails among `activity_ids` with their organisation's active version (idempotent); commits."""
    ids = sorted(set(int(i) for i in activity_ids))
    if not ids:
        return ScoringOutcome(0, (), ())
    activities = uow.s.scalars(select(Activity).where(Activity.id.in_(ids), Activity.kind.in_(SCORED_KINDS))).all()
    by_org: dict[int, list[Activity]] = defaultdict(list)
    for activity in activities:
        by_org[activity.org_id].append(activity)
    stored: list[int] = []
    versions: set[str] = set()
    for org_id, group in sorted(by_org.items()):
        scorer = scorers.for_org(org_id)
        existing = set(
            uow.s.scalars(
                select(SentimentScore.activity_id).where(
                    SentimentScore.activity_id.in_([a.id for a in group]), SentimentScore.model_version == scorer.version
                )
            )
        )
        todo = [a for a in group if a.id not in existing]
        # Capture already split quotes, signature and disclaimer off: score the stored new text as it is.
        results = scorer.score_prepared([prepare_text(a.new_text or "", split_quotes=False) for a in todo])
        now = utcnow()
        inserted = insert_new_scores(uow.s, [
            dict(activity_id=activity.id, model_version=result.model_version, label=result.label, score=result.score,
                 confidence=result.confidence, probabilities=result.probabilities, highlights=result.highlights,
                 evidence=stance_evidence(scorer, activity.new_text or "", split_quotes=False)
                 if may_raise_negative_alert(activity, result.label, now) else None,
                 is_current=True, scored_at=now)
            for activity, result in zip(todo, results)
        ])
        _mark_current(uow, [a.id for a in group], scorer.version)
        stored.extend(a.id for a in todo if a.id in inserted)
        versions.add(scorer.version)
    uow.commit()
    if stored:
        on_scores_stored(uow, stored, alert_defaults=default_thresholds(scorers.settings),
                         webhook=bool(scorers.settings.webhook_url))
    return ScoringOutcome(len(stored), tuple(sorted(versions)), tuple(stored))


def may_raise_negative_alert(activity: Activity, label: str, now: datetime) -> bool:
    """A recent inbound email read as negative: the few that may raise the strongly-negative alert, whose evidence
    (leave-one-out, one extra scorer pass each) is computed while scoring; older or other emails never need it."""
    occurred = activity.occurred_at
    if occurred.tzinfo is None and now.tzinfo is not None:
        occurred = occurred.replace(tzinfo=now.tzinfo)
    return (activity.direction == "inbound" and label == "negative" and not activity.is_private
            and now - occurred <= EVIDENCE_WINDOW)


def _mark_current(uow: UnitOfWork, activity_ids: Sequence[int], version: str) -> None:
    """Exactly the scores of `version` are current for these activities."""
    uow.s.execute(
        update(SentimentScore)
        .where(SentimentScore.activity_id.in_(activity_ids))
        .values(is_current=SentimentScore.model_version == version)
        .execution_options(synchronize_session=False)
    )


def pending_activity_ids(
    uow: UnitOfWork, org_id: int | None = None, limit: int = SWEEP_LIMIT, *, scorers: ActiveScorers
) -> list[int]:
    """Emails with no score from their organisation's active version (none at all, or only older versions)."""
    org_query = select(Activity.org_id).distinct().where(Activity.kind.in_(SCORED_KINDS))
    orgs = [org_id] if org_id is not None else list(uow.s.scalars(org_query))
    pending: list[int] = []
    for org in orgs:
        version = scorers.version_for(org)
        has_active_score = (
            select(SentimentScore.id)
            .where(and_(SentimentScore.activity_id == Activity.id, SentimentScore.model_version == version))
            .exists()
        )
        query = (
            select(Activity.id)
            .where(Activity.org_id == org, Activity.kind.in_(SCORED_KINDS), ~has_active_score)
            .order_by(Activity.occurred_at.desc())
            .limit(limit - len(pending))
        )
        pending.extend(uow.s.scalars(query))
        if len(pending) >= limit:
            break
    return pending


def score_pending(
    uow: UnitOfWork, org_id: int | None = None, limit: int = SWEEP_LIMIT, *, scorers: ActiveScorers
) -> ScoringOutcome:
    """The periodic sweep: score up to `limit` emails missing a score from the active version; commits."""
    return score_activities(uow, pending_activity_ids(uow, org_id, limit, scorers=scorers), scorers=scorers)


def rescore_after_promotion(
    uow: UnitOfWork, org_id: int | None = None, batch: int = SWEEP_LIMIT, *, scorers: ActiveScorers
) -> int:
    """After a promotion or rollback: score every email lacking the new version's score and make those current."""
    scorers.forget()
    total = 0
    while True:
        outcome = score_pending(uow, org_id, batch, scorers=scorers)
        total += outcome.scored
        if outcome.scored == 0:
            break
    _refresh_current_flags(uow, scorers, org_id)
    return total


def _refresh_current_flags(uow: UnitOfWork, scorers: ActiveScorers, org_id: int | None) -> None:
    """Scores already stored for the restored version become current again (rollback to a version seen before)."""
    orgs = [org_id] if org_id is not None else list(uow.s.scalars(select(Activity.org_id).distinct()))
    for org in orgs:
        version = scorers.version_for(org)
        ids = select(Activity.id).where(Activity.org_id == org).scalar_subquery()
        uow.s.execute(
            update(SentimentScore)
            .where(SentimentScore.activity_id.in_(ids))
            .values(is_current=SentimentScore.model_version == version)
            .execution_options(synchronize_session=False)
        )
    uow.commit()


__all__ = [
    "ScoringOutcome",
    "pending_activity_ids",
    "rescore_after_promotion",
    "score_activities",
    "score_pending",
]
