"""Training an organisation's tone model from its reps' ratings, with guard-rails before anything is promoted.

One run: estimate every rater's reliability (Dawid–Skene, stored on the raters), build the data (seed corpus
replay + weighted training ratings; held-out ratings kept aside), choose the method by how many ratings there
are, fine-tune starting from the organisation's active version, evaluate candidate and active version on the
seed eval split and the held-out ratings, and let `domain.promotion` decide: the organisation's held-out ratings
must improve, the corpus eval may drop at most DEALPULSE_MAX_CORPUS_EVAL_DROP points. Every candidate is kept
(rejected ones with the reason and the before/after table); an admin may promote one anyway (`services.model_versions`,
recorded in the audit log). On a promotion the caller's `rescore` queues the re-score sweep; running processes pick
the new version up through ActiveScorers. The data a run learns from is built in `services.training_data`, its row
and progress are kept by `services.training_runs`, and what the admin page reads comes from `services.training_admin`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..config import Settings
from ..domain.promotion import MIN_HOLDOUT_ITEMS, Evaluation, PromotionPolicy, decide_promotion
from ..sentiment.active import active_scorers
from ..sentiment.corpus import load_seed_corpus
from ..sentiment.registry import (
    active_version,
    hash_examples,
    new_version_id,
    promote,
    register_version,
    version_dir,
    write_version,
)
from ..store.database import Database
from .training_data import (
    SEED,
    RatedPassage,
    TrainingData,
    build_training_data,
    model_labels_for,
    rating_rows,
    refresh_reliability,
)
from .training_runs import Progress, RunTracker, start_run

log = logging.getLogger(__name__)

SETFIT_BELOW = 100  # training ratings; below this the SetFit-style method is used (see bench/bench_train.py)
RATING_EMPHASIS = 2.5  # a rating's loss weight against a replayed seed passage's in continued / full training
FULL_EPOCHS = 2
FULL_LEARNING_RATE = 3e-5
METHODS = ("setfit", "top-layers", "full")

Rescore = Callable[[int | None], None]  # queue the re-score sweep of an organisation (None: the global version)


class TrainingError(ValueError):
    """Training cannot start (no ratings, unknown organisation); the message says why."""


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


def choose_method(training_ratings: int) -> str:
    """`setfit` for a small rating set, `top-layers` (continued fine-tune) once there are enough ratings."""
    return "setfit" if training_ratings < SETFIT_BELOW else "top-layers"


def promotion_policy(settings: Settings) -> PromotionPolicy:
    """The guard-rails configured for this deployment."""
    return PromotionPolicy(max_corpus_drop_points=settings.max_corpus_eval_drop)


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
    run_id = start_run(db, org_id, trigger, run_id)
    tracker = RunTracker(db, run_id, progress)
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
        tracker.finish(report.as_dict())
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
