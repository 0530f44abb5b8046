"""Training an organisation's tone model from its reps' ratings, with guard-rails before anything is promoted.

One run: estimate every rater's reliability (Dawid–Skene, stored on the raters), build the data (seed corpus
replay + weighted training ratings; held-out ratings kept aside), choose the method by how many ratings there
are, fine-tune starting from the organisation's active version, evaluate candidate and active version on the
seed eval split and the held-out ratings, and let `domain.promotion` decide: the organisation's held-out ratings
must improve, the corpus eval may drop at most DEALPULSE_MAX_CORPUS_EVAL_DROP points. Every candidate is kept
(rejected ones with the reason and the before/after table); an admin may promote one anyway (`promote_version`,
recorded in the audit log). On a promotion the caller's `rescore` queues the re-score sweep; running processes pick the new version up
through ActiveScorers.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import func, or_, select

from ..config import Settings
from ..domain.access import Principal
from ..domain.promotion import MIN_HOLDOUT_ITEMS, Evaluation, PromotionPolicy, decide_promotion
from ..domain.rater_reliability import RatingObservation, ReliabilityEstimate, estimate_reliability
from ..sentiment.active import active_scorers
from ..sentiment.corpus import LABELS, SeedCorpus, load_seed_corpus
from ..sentiment.registry import (
    RegistryError,
    active_version,
    find_version,
    hash_examples,
    is_complete,
    list_versions,
    new_version_id,
    promote,
    register_version,
    rollback,
    version_dir,
    write_version,
)
from ..store import Activity, Rater, Rating, TrainingRun, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork
from .audit import record_changes
from ..sentiment.holdout import content_key, is_holdout_key

log = logging.getLogger(__name__)

SEED = 13
SETFIT_BELOW = 100  # training ratings; below this the SetFit-style method is used (see bench/bench_train.py)
REPLAY_MIN = 400  # seed-corpus passages replayed with the ratings (at least), so the seed skills stay
RATING_EMPHASIS = 2.5  # a rating's loss weight against a replayed seed passage's in continued / full training
FULL_EPOCHS = 2
FULL_LEARNING_RATE = 3e-5
AUTO_RETRAIN_INTERVAL = timedelta(hours=24)
METHODS = ("setfit", "top-layers", "full")

Progress = Callable[[str, float], None]  # (message, fraction 0..1)
Rescore = Callable[[int | None], None]  # queue the re-score sweep of an organisation (None: the global version)


class TrainingError(ValueError):
    """Training cannot start (no ratings, unknown organisation); the message says why."""


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


@dataclass
class TrainingReport:
    """The outcome of a run: the `dealpulse train` table row, and what the admin page shows."""

    run_id: int
    org_id: int
    version: str
    parent_version: str
    method: str
    data: dict
    seed_eval_f1: float
    active_seed_eval_f1: float
    holdout_f1: float | None
    active_holdout_f1: float | None
    promoted: bool
    reason: str
    what_changed: list[dict] = field(default_factory=list)
    raters: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


# ---------------------------------------------------------------- reliability


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


# ---------------------------------------------------------------- data and method


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


def choose_method(training_ratings: int) -> str:
    """`setfit` for a small rating set, `top-layers` (continued fine-tune) once there are enough ratings."""
    return "setfit" if training_ratings < SETFIT_BELOW else "top-layers"


def promotion_policy(settings: Settings) -> PromotionPolicy:
    """The guard-rails configured for this deployment."""
    return PromotionPolicy(max_corpus_drop_points=settings.max_corpus_eval_drop)


# ---------------------------------------------------------------- the run


def _fit(data: TrainingData, method: str, start_from: Path, seed: int, threads: int, progress: Progress):
    from ..sentiment.trainer import TrainConfig, TrainingProgress, train_classifier

    def report(p: TrainingProgress) -> None:
        text = f"training ({method}) step {p.step}/{p.total_steps}"
        if p.validation_f1 is not None:
            text += f", held-out F1 {p.validation_f1:.4f}"
        progress(text, 0.1 + 0.7 * p.fraction)

    examples = [replace(e, weight=e.weight * RATING_EMPHASIS) for e in data.ratings] + data.replay
    validation = [_example(p) for p in data.holdout] if len(data.holdout) >= MIN_HOLDOUT_ITEMS else None
    if method == "setfit":
        from ..sentiment.few_shot import FewShotConfig, train_few_shot

        return train_few_shot(data.ratings, start_from, FewShotConfig(seed=seed, threads=threads), replay=data.replay,
                              progress=report)
    if method == "top-layers":
        from ..sentiment.continued import ContinuedConfig, train_top_layers

        config = ContinuedConfig(seed=seed, threads=threads)
        return train_top_layers(examples, start_from, config, validation=validation, progress=report)
    if method == "full":
        config = TrainConfig(seed=seed, method="full", max_epochs=FULL_EPOCHS, learning_rate=FULL_LEARNING_RATE,
                             patience=1, threads=threads)
        return train_classifier(examples, config, validation=validation, progress=report, base_path=start_from)
    raise TrainingError(f"unknown method {method!r} (one of {', '.join(METHODS)})")


def _example(passage: RatedPassage):
    from ..sentiment.trainer import TrainingExample

    return TrainingExample(passage.text, passage.label)


def train_org_version(
    settings: Settings,
    db: Database,
    org_id: int,
    *,
    trigger: str = "cli",
    run_id: int | None = None,
    progress: Progress | None = None,
    rescore: Rescore | None = None,
    seed: int = SEED,
    method: str | None = None,
) -> TrainingReport:
    """Train a candidate for the organisation, evaluate it against the active version, promote or reject it."""
    from ..sentiment.explain import phrase_shifts
    from ..sentiment.few_shot import load_classifier
    from ..sentiment.seed import ensure_seed_model
    from ..sentiment.trainer import evaluate_classifier

    started = time.perf_counter()
    run_id = _start_run(db, org_id, trigger, run_id)
    tracker = _RunTracker(db, run_id, progress)
    try:
        ensure_seed_model(settings, db)
        tracker("estimating rater reliability", 0.02)
        with db.uow() as uow:
            parent = active_version(uow, org_id)
            if parent is None:
                raise TrainingError("no active model version: run `dealpulse train --from-seed` first")
            parent_version = parent.version
            rows = rating_rows(uow, org_id)
            if not rows:
                raise TrainingError("no ratings yet: rate emails in the sidebar or `dealpulse ratings import FILE.jsonl`")
            estimate = refresh_reliability(uow, org_id, model_labels_for(settings, db, org_id, rows))
            data = build_training_data(rows, estimate, load_seed_corpus(), seed)
            raters = [_rater_summary(r) for r in estimate.raters.values()]
            uow.commit()
        if not data.ratings:
            raise TrainingError("no usable training ratings (all held out, empty, or from flagged raters)")
        corpus = load_seed_corpus()
        chosen = method or choose_method(len(data.ratings))
        start_from = version_dir(settings.model_dir, parent_version)
        tracker(f"training ({chosen}) on {len(data.ratings)} ratings + {len(data.replay)} seed passages", 0.1)
        trained = _fit(data, chosen, start_from, seed, settings.torch_threads, tracker)
        tracker("evaluating candidate and active version", 0.82)
        active_model = load_classifier(start_from)
        holdout = data.holdout if len(data.holdout) >= MIN_HOLDOUT_ITEMS else []
        candidate_seed = evaluate_classifier(trained.model, trained.tokenizer, corpus.eval)
        active_seed = evaluate_classifier(*active_model, corpus.eval)
        candidate_holdout = evaluate_classifier(trained.model, trained.tokenizer, holdout) if holdout else None
        active_holdout = evaluate_classifier(*active_model, holdout) if holdout else None
        decision = decide_promotion(
            Evaluation(active_holdout.macro_f1 if active_holdout else None,
                       candidate_holdout.macro_f1 if candidate_holdout else None),
            Evaluation(active_seed.macro_f1, candidate_seed.macro_f1), len(data.holdout), promotion_policy(settings),
        )
        promote_it, reason = decision.promote, decision.reason
        tracker("explaining what changed", 0.9)
        what_changed = [s.as_dict() for s in phrase_shifts(active_model, (trained.model, trained.tokenizer),
                                                             [e.text for e in data.ratings])]
        rows_for_hash = [(e.text, e.label, e.weight) for e in data.ratings + data.replay]
        data_hash = hash_examples(rows_for_hash)
        version = new_version_id(org_id, data_hash)
        data_summary = {
            "ratings": len(data.ratings), "replay": len(data.replay), "holdout": len(data.holdout),
            "rating_rows": data.rating_rows, "skipped_zero_weight": data.skipped_zero_weight,
            "flagged_raters": data.flagged_raters,
        }
        metrics = {
            "seed_eval": candidate_seed.as_dict(),
            "holdout_ratings": candidate_holdout.as_dict() if candidate_holdout else None,
            "parent": {"version": parent_version, "seed_eval_f1": active_seed.macro_f1,
                       "holdout_f1": active_holdout.macro_f1 if active_holdout else None,
                       "seed_eval": active_seed.as_dict(),
                       "holdout_ratings": active_holdout.as_dict() if active_holdout else None},
            "decision": {"check": decision.check, "max_corpus_drop_points": settings.max_corpus_eval_drop},
        }
        summary = {**trained.summary, "data": data_summary, "what_changed": what_changed, "trigger": trigger}
        info = {"method": chosen, "data_hash": data_hash, "seed": seed, "parent_version": parent_version, "summary": summary}
        path = write_version(settings.model_dir, version, trained, info, metrics)
        if promote_it:
            from ..sentiment.onnx_export import ensure_onnx_int8

            ensure_onnx_int8(path)
        with db.uow() as uow:
            register_version(uow, org_id=org_id, version=version, method=chosen, data_hash=data_hash, metrics=metrics,
                             training_summary=summary, parent_version=parent_version,
                             status="candidate" if promote_it else "rejected", decision_reason=reason)
            if promote_it:
                promote(uow, settings.model_dir, org_id, version, reason=reason)
            uow.commit()
        report = TrainingReport(
            run_id=run_id, org_id=org_id, version=version, parent_version=parent_version, method=chosen,
            data=data_summary, seed_eval_f1=candidate_seed.macro_f1, active_seed_eval_f1=active_seed.macro_f1,
            holdout_f1=candidate_holdout.macro_f1 if candidate_holdout else None,
            active_holdout_f1=active_holdout.macro_f1 if active_holdout else None,
            promoted=promote_it, reason=reason, what_changed=what_changed, raters=raters,
            seconds=round(time.perf_counter() - started, 1),
        )
        tracker.finish(report)
    except Exception as exc:
        tracker.fail(exc)
        raise
    if promote_it:
        active_scorers(settings, db).forget()
        if rescore is not None:
            rescore(org_id)
    return report


def _rater_summary(estimate) -> dict:
    return {"rater": estimate.rater, "ratings": estimate.ratings, "weight": estimate.weight,
            "agreement": estimate.agreement, "bias": estimate.bias, "flagged": estimate.flagged,
            "flag_reason": estimate.flag_reason}


def _start_run(db: Database, org_id: int, trigger: str, run_id: int | None) -> int:
    with db.uow() as uow:
        run = uow.s.get(TrainingRun, run_id) if run_id is not None else None
        if run is None:
            run = TrainingRun(org_id=org_id, trigger=trigger)
            uow.s.add(run)
        run.status, run.started_at, run.progress, run.message = "running", utcnow(), 0.0, "starting"
        uow.commit()
        return run.id


class _RunTracker:
    """Progress to the caller (CLI bar) and, at most every two seconds, to the TrainingRun row (admin page)."""

    def __init__(self, db: Database, run_id: int, progress: Progress | None):
        self.db, self.run_id, self.progress, self._saved = db, run_id, progress, 0.0

    def __call__(self, message: str, fraction: float) -> None:
        if self.progress:
            self.progress(message, fraction)
        now = time.monotonic()
        if now - self._saved >= 2.0:
            self._saved = now
            self._update(progress=round(fraction, 3), message=message[:500])

    def finish(self, report: TrainingReport) -> None:
        self._update(status="done", progress=1.0, message=report.reason[:500], candidate_version=report.version,
                     promoted=report.promoted, report=report.as_dict(), finished_at=utcnow())

    def fail(self, exc: Exception) -> None:
        self._update(status="failed", message=f"{exc.__class__.__name__}: {exc}"[:500], finished_at=utcnow())

    def _update(self, **values: object) -> None:
        with self.db.uow() as uow:
            run = uow.s.get(TrainingRun, self.run_id)
            for name, value in values.items():
                setattr(run, name, value)
            uow.commit()


# ---------------------------------------------------------------- triggers


def queue_run(uow: UnitOfWork, org_id: int, trigger: str) -> TrainingRun:
    """A queued TrainingRun row (the task picks it up); the caller commits."""
    run = TrainingRun(org_id=org_id, trigger=trigger, status="queued", message="queued")
    uow.s.add(run)
    uow.s.flush()
    return run


def new_ratings_since_last_run(uow: UnitOfWork, org_id: int) -> tuple[int, datetime | None]:
    """Ratings created or changed since the organisation's last training run started, and when that was."""
    last = uow.s.scalar(select(func.max(TrainingRun.created_at)).where(TrainingRun.org_id == org_id))
    query = select(func.count(Rating.id)).where(Rating.org_id == org_id)
    if last is not None:
        query = query.where(Rating.updated_at > last)
    return int(uow.s.scalar(query) or 0), last


def should_retrain(uow: UnitOfWork, org_id: int, threshold: int, now: datetime | None = None) -> bool:
    """Enough new ratings (`threshold`, > 0) and no run in the last day: the automatic trigger, at most nightly."""
    if threshold <= 0:
        return False
    count, last = new_ratings_since_last_run(uow, org_id)
    if count < threshold:
        return False
    now = now or utcnow()
    return last is None or now - _naive(last) >= AUTO_RETRAIN_INTERVAL - timedelta(minutes=5)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None and utcnow().tzinfo is None else value


def version_is_usable(settings: Settings, uow: UnitOfWork, org_id: int, version: str) -> bool:
    """Whether `version` belongs to the organisation (or is global) and its folder is complete."""
    row = find_version(uow, org_id, version) or find_version(uow, None, version)
    return row is not None and is_complete(version_dir(settings.model_dir, version))


# ---------------------------------------------------------------- what admins see


def ratings_over_time(uow: UnitOfWork, org_id: int) -> list[dict]:
    """Per ISO week: ratings made, by label, and how many agreed with the model's label at the time."""
    weeks: dict[str, dict] = {}
    query = select(Rating.created_at, Rating.label, Rating.model_label).where(Rating.org_id == org_id)
    for created_at, label, model_label in uow.s.execute(query):
        year, week, _ = created_at.isocalendar()
        key = f"{year}-W{week:02d}"
        row = weeks.setdefault(key, {"week": key, "ratings": 0, "negative": 0, "neutral": 0, "positive": 0,
                                     "with_model_label": 0, "agree_with_model": 0})
        row["ratings"] += 1
        row[label] = row.get(label, 0) + 1
        if model_label:
            row["with_model_label"] += 1
            row["agree_with_model"] += int(model_label == label)
    return [weeks[k] for k in sorted(weeks)]


def rater_table(uow: UnitOfWork, org_id: int) -> list[dict]:
    """Every rater with their latest reliability estimate, flagged ones first."""
    counts = dict(uow.s.execute(
        select(Rating.rater_id, func.count(Rating.id)).where(Rating.org_id == org_id).group_by(Rating.rater_id)
    ).all())
    raters = uow.s.scalars(select(Rater).where(Rater.org_id == org_id).order_by(Rater.key))
    rows = [
        {"rater": r.key, "imported": r.is_imported, "ratings": int(counts.get(r.id, 0)), "weight": r.weight,
         "agreement": r.agreement, "bias": r.bias, "flagged": r.flagged, "flag_reason": r.flag_reason,
         "leaning": _leaning(r.bias), "label_share": (r.stats or {}).get("label_share"),
         "model_agreement": (r.stats or {}).get("model_agreement")}
        for r in raters
    ]
    return sorted(rows, key=lambda row: (not row["flagged"], row["rater"]))


def _leaning(bias: float | None) -> str:
    if bias is None:
        return "not estimated yet"
    if bias >= 0.15:
        return "more positive than the team"
    if bias <= -0.15:
        return "more negative than the team"
    return "in line with the team"


def version_table(uow: UnitOfWork, org_id: int) -> list[dict]:
    """The organisation's versions and the global ones, newest first, with metrics, the decision and its table."""
    in_use = active_version(uow, org_id)
    rows = []
    for v in list_versions(uow, org_id):
        metrics = v.metrics or {}
        holdout = metrics.get("holdout_ratings") or {}
        rows.append({
            "version": v.version, "scope": "global" if v.org_id is None else "organisation", "status": v.status,
            "in_use": in_use is not None and in_use.id == v.id, "method": v.method, "parent_version": v.parent_version,
            "seed_eval_f1": (metrics.get("seed_eval") or {}).get("macro_f1"), "holdout_f1": holdout.get("macro_f1"),
            "parent_metrics": metrics.get("parent"), "decision_reason": v.decision_reason,
            "comparison": comparison_table(metrics),
            "data": (v.training_summary or {}).get("data"),
            "what_changed": (v.training_summary or {}).get("what_changed", []),
            "created_at": v.created_at.isoformat(), "promoted_at": v.promoted_at.isoformat() if v.promoted_at else None,
        })
    return rows


def comparison_table(metrics: dict) -> list[dict]:
    """Before (the parent version) and after (this candidate), in macro-F1 and per class, on the organisation's
    held-out ratings and on the corpus eval: the table an admin reads before promoting a rejected candidate."""
    parent = metrics.get("parent") or {}
    sets = (("Held-out ratings", parent.get("holdout_ratings"), metrics.get("holdout_ratings"), parent.get("holdout_f1")),
            ("Corpus eval", parent.get("seed_eval"), metrics.get("seed_eval"), parent.get("seed_eval_f1")))
    rows = []
    for name, before, after, before_f1 in sets:
        if not after:
            continue
        before = before or {}
        rows.append(_comparison_row(name, "macro-F1", before.get("macro_f1", before_f1), after.get("macro_f1"),
                                    after.get("count")))
        for label in LABELS:
            rows.append(_comparison_row(name, f"{label} F1", (before.get("per_class_f1") or {}).get(label),
                                        (after.get("per_class_f1") or {}).get(label), None))
    return rows


def _comparison_row(evaluation: str, measure: str, before: float | None, after: float | None, count: int | None) -> dict:
    change = None if before is None or after is None else round((after - before) * 100, 1)
    return {"evaluation": evaluation, "measure": measure, "before": before, "after": after, "change_points": change,
            "count": count}


def training_runs(uow: UnitOfWork, org_id: int, limit: int = 20) -> list[dict]:
    """The organisation's recent training runs, newest first."""
    query = select(TrainingRun).where(TrainingRun.org_id == org_id).order_by(TrainingRun.id.desc()).limit(limit)
    return [run_as_dict(run) for run in uow.s.scalars(query)]


def run_as_dict(run: TrainingRun) -> dict:
    """A training run as the API returns it."""
    return {"id": run.id, "status": run.status, "trigger": run.trigger, "progress": run.progress, "message": run.message,
            "candidate_version": run.candidate_version, "promoted": run.promoted,
            "created_at": run.created_at.isoformat(), "finished_at": run.finished_at.isoformat() if run.finished_at else None}


def promote_version(settings: Settings, db: Database, org_id: int | None, version: str, *, actor: Principal | None,
                    reason: str = "", surface: str = "", rescore: Rescore | None = None) -> str:
    """Make `version` the active one (the admin page, the API and `dealpulse models promote` all come here).

    A candidate the guard-rails rejected is promoted only with a reason ("promote anyway"); who and why go to the
    audit log and the version's decision. Then `rescore(org_id)` (the caller queues the re-score sweep); returns the version now active.
    """
    reason = " ".join((reason or "").split())
    who = actor.email if actor is not None else "the command line"
    with db.uow() as uow:
        row = find_version(uow, org_id, version)
        if row is None:
            scope = "the global versions" if org_id is None else f"organisation {org_id}"
            raise TrainingError(f"unknown version {version!r} for {scope}: see `dealpulse models list`")
        before, rejection = row.status, row.decision_reason
        if before == "rejected" and not reason:
            raise TrainingError(f"{version} was rejected ({rejection}); say why to promote it anyway")
        if before == "rejected":
            decision = f"promoted anyway by {who}: {reason} (rejected: {rejection})"
        else:
            decision = f"promoted by {who}" + (f": {reason}" if reason else "")
        try:
            row = promote(uow, settings.model_dir, org_id, version, reason=decision)
        except RegistryError as exc:
            raise TrainingError(str(exc)) from None
        if org_id is not None:
            record_changes(uow.s, actor, "model_version", row.id, org_id,
                           {"status": (before, "active"), "promotion_reason": (rejection if before == "rejected" else None, reason or None)},
                           surface=surface or None)
        uow.commit()
    _after_switch(settings, db, org_id, version, rescore)
    return version


def switch_version(settings: Settings, db: Database, org_id: int | None, version: str | None, reason: str,
                   rescore: Rescore | None = None, actor: Principal | None = None) -> str:
    """Promote `version` (see `promote_version`) or, with None, roll back to the previous one; queue the re-score."""
    if version is not None:
        return promote_version(settings, db, org_id, version, actor=actor, reason=reason, rescore=rescore)
    with db.uow() as uow:
        try:
            row = rollback(uow, org_id)
        except RegistryError as exc:
            raise TrainingError(str(exc)) from None
        uow.commit()
        now_active = row.version if row is not None else ""
    _after_switch(settings, db, org_id, now_active, rescore)
    return now_active


def _after_switch(settings: Settings, db: Database, org_id: int | None, now_active: str, rescore: Rescore | None) -> None:
    if now_active:
        from ..sentiment.onnx_export import ensure_onnx_int8

        ensure_onnx_int8(version_dir(settings.model_dir, now_active))
    active_scorers(settings, db).forget()
    if rescore is not None:
        rescore(org_id)
