"""What one training run learns from: every rater's reliability (Dawid–Skene, stored on the raters), the weighted
training ratings, a replay of the seed corpus so the seed skills stay, and the held-out ratings (one label per
wording, by weighted vote) that decide the promotion."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import or_, select

from ..config import Settings
from ..domain.rater_reliability import RatingObservation, ReliabilityEstimate, estimate_reliability
from ..sentiment.active import active_scorers
from ..domain.tone_labels import LABELS
from ..sentiment.corpus import SeedCorpus
from ..sentiment.holdout import content_key, is_holdout_key
from ..store import Activity, Rater, Rating, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork

SEED = 13
REPLAY_MIN = 400  # seed-corpus passages replayed with the ratings (at least), so the seed skills stay



@dataclass(frozen=True)
class RatedPassage:
    """A rated text with one label (for held-out evaluation: the weighted vote of its raters)."""

    text: str
    label: str


@dataclass
class TrainingData:
    """What a run trains and evaluates on."""

    ratings: list  # TrainingExample, weighted by rater reliability
    replay: list  # TrainingExample from the seed corpus train split
    holdout: list[RatedPassage]
    rating_rows: int
    skipped_zero_weight: int
    flagged_raters: list[str]


def rating_rows(uow: UnitOfWork, org_id: int) -> list[tuple[Rating, str]]:
    """Every current rating of the organisation with its rater's key (imported texts, and the buyer's emails only:
    a rating of the rep's own outbound mail, from before such ratings were refused, is left out)."""
    query = (
        select(Rating, Rater.key).join(Rater, Rater.id == Rating.rater_id)
        .outerjoin(Activity, Activity.id == Rating.activity_id)
        .where(Rating.org_id == org_id, or_(Rating.activity_id.is_(None), Activity.direction == "inbound"))
        .order_by(Rating.id)
    )
    return [(rating, key) for rating, key in uow.s.execute(query)]


def refresh_reliability(
    uow: UnitOfWork, org_id: int, model_labels: dict[str, str] | None = None
) -> ReliabilityEstimate:
    """Estimate every rater's reliability and store it on the rater rows (the caller commits)."""
    rows = rating_rows(uow, org_id)
    labels = {rating.item_key: rating.model_label for rating, _ in rows if rating.model_label}
    labels.update(model_labels or {})
    estimate = estimate_reliability([RatingObservation(key, r.item_key, r.label) for r, key in rows], labels)
    now = utcnow()
    for rater in uow.s.scalars(select(Rater).where(Rater.org_id == org_id)):
        found = estimate.raters.get(rater.key)
        if found is None:
            continue
        rater.weight, rater.agreement, rater.bias = found.weight, found.agreement, found.bias
        rater.flagged, rater.flag_reason, rater.stats, rater.updated_at = found.flagged, found.flag_reason, found.as_stats(), now
    uow.s.flush()
    return estimate


def model_labels_for(settings: Settings, db: Database, org_id: int, rows: list[tuple[Rating, str]]) -> dict[str, str]:
    """The active version's label for every rated item that has none recorded (imported texts)."""
    missing = {rating.item_key: rating.text for rating, _ in rows if not rating.model_label and rating.text.strip()}
    if not missing:
        return {}
    scorer = active_scorers(settings, db).for_org(org_id)
    keys = list(missing)
    results = scorer.score_texts([missing[k] for k in keys], split_quotes=False)
    return {key: result.label for key, result in zip(keys, results)}


def build_training_data(
    rows: list[tuple[Rating, str]], estimate: ReliabilityEstimate, corpus: SeedCorpus, seed: int = SEED
) -> TrainingData:
    """Weighted training ratings, seed replay, and the held-out ratings (one label per item by weighted vote)."""
    from ..sentiment.trainer import TrainingExample

    train = []
    skipped = 0
    votes: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    texts: dict[str, str] = {}
    for rating, rater in rows:
        if not rating.text.strip():
            continue
        weight = estimate.weight_of(rater)
        key = content_key(rating.text)  # one held-out item per wording, whichever emails carried it
        if is_holdout_key(key):
            votes[key][rating.label] += weight
            texts[key] = rating.text
            continue
        if weight <= 0:
            skipped += 1
            continue
        train.append(TrainingExample(rating.text, rating.label, weight))
    holdout = []
    for key in sorted(votes):
        tally = votes[key]
        best = max(LABELS, key=lambda label: (tally.get(label, 0.0), label == "neutral"))
        if tally.get(best, 0.0) > 0:
            holdout.append(RatedPassage(texts[key], best))
    rng = random.Random(seed)
    pool = list(corpus.train)
    rng.shuffle(pool)
    replay_size = min(len(pool), max(REPLAY_MIN, len(train)))
    replay = [TrainingExample(p.text, p.label) for p in pool[:replay_size]]
    flagged = sorted(r.rater for r in estimate.raters.values() if r.flagged)
    return TrainingData(train, replay, holdout, len(rows), skipped, flagged)
