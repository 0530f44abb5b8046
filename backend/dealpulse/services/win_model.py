"""The win-probability model: trained on an organisation's own closed deals, versioned, with a stage fallback.

Training examples are deals as they stood at the start of each month of their life (features as of that moment,
see `win_features`), labelled "won before the end of that quarter". A logistic regression on standardised features
(scikit-learn, loaded only when training) gives calibrated probabilities; its coefficients are stored as JSON under
<model_dir>/winprob/<version>/ with training.json, and a `WinModel` row marks the organisation's active version.
Prediction is plain arithmetic on those numbers. Until `min_closed` won and `min_closed` lost deals exist, the
probability is the stage's for deals closing in the period (0 otherwise), with a "not enough history" note.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..domain.forecast_scoring import brier_score
from ..domain.periods import Period, period_of
from ..store import WinModel, utcnow
from ..store.uow import UnitOfWork
from .deal_history import DealHistory, DealState, day_start
from .win_features import FEATURES, features_as_of

WINPROB_DIR = "winprob"


@dataclass(frozen=True)
class WinModelParams:
    """A fitted logistic regression: P = sigmoid(intercept + sum(coef * (x - mean) / scale))."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def probability(self, vector: dict[str, float]) -> float:
        """P(win within the period) of one feature vector."""
        z = self.intercept + sum(c * (vector.get(f, 0.0) - m) / s
                                 for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def as_dict(self) -> dict[str, Any]:
        """JSON form (model.json)."""
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "WinModelParams":
        """Read model.json."""
        return cls(tuple(doc["features"]), tuple(map(float, doc["mean"])), tuple(map(float, doc["scale"])),
                   tuple(map(float, doc["coef"])), float(doc["intercept"]))


def fit(vectors: Sequence[dict[str, float]], labels: Sequence[bool]) -> tuple[WinModelParams, dict[str, Any]]:
    """Fit the model on examples; returns it with in-sample and 5-fold cross-validated Brier scores."""
    import numpy as np  # noqa: PLC0415 - the learning stack loads only when a model is trained
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.model_selection import StratifiedKFold, cross_val_predict  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    x = np.array([[v.get(f, 0.0) for f in FEATURES] for v in vectors], dtype=float)
    y = np.array([1 if won else 0 for won in labels])
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=0.3, max_iter=2000))
    folds = min(5, int(y.sum()), int(len(y) - y.sum()))
    metrics: dict[str, Any] = {"examples": int(len(y)), "positives": int(y.sum())}
    if folds >= 2:
        cv = cross_val_predict(pipeline, x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=0),
                               method="predict_proba")[:, 1]
        metrics["brier_cv"] = round(float(np.mean((cv - y) ** 2)), 4)
    pipeline.fit(x, y)
    scaler, model = pipeline[0], pipeline[1]
    scale = [float(s) if s > 0 else 1.0 for s in scaler.scale_]
    params = WinModelParams(FEATURES, tuple(float(m) for m in scaler.mean_), tuple(scale),
                            tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]))
    metrics["brier_train"] = round(brier_score([(params.probability(v), bool(w)) for v, w in zip(vectors, labels)]) or 0.0, 4)
    return params, metrics


# ---------------------------------------------------------------- examples


def month_starts(first: date, last: date) -> list[date]:
    """The first days of the months from `first`'s month after it up to `last`."""
    out, day = [], date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    while day <= last:
        out.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return out


class FeatureCache:
    """Features of every open deal at the start of given days, computed once per day (backtests reuse them)."""

    def __init__(self, session: Session, history: DealHistory):
        self.session = session
        self.history = history
        self._cache: dict[tuple[date, date], tuple[list[DealState], dict[int, dict[str, float]]]] = {}

    def at(self, day: date, period_end: date, states: list[DealState] | None = None) -> tuple[list[DealState], dict[int, dict[str, float]]]:
        """(states, features) of the deals open at the start of `day`, for a period ending `period_end`."""
        key = (day, period_end)
        if key not in self._cache or states is not None:
            states = states if states is not None else self.history.states_at(day_start(day))
            self._cache[key] = (states, features_as_of(self.session, states, day_start(day), period_end))
        return self._cache[key]


def closed_counts(history: DealHistory, before: datetime) -> tuple[int, int]:
    """(won, lost) deals closed before `before`."""
    won = lost = 0
    for outcome in history.outcomes().values():
        if outcome.closed_at < before:
            won, lost = (won + 1, lost) if outcome.won else (won, lost + 1)
    return won, lost


def training_examples(cache: FeatureCache, cutoff: datetime) -> tuple[list[dict[str, float]], list[bool]]:
    """Examples from deals closed before `cutoff`: each at every month start of its life, labelled won-in-quarter."""
    outcomes = {i: o for i, o in cache.history.outcomes().items() if o.closed_at < cutoff}
    if not outcomes:
        return [], []
    first = min(cache.history.deals[i].created_at for i in outcomes).date()
    vectors, labels = [], []
    for day in month_starts(first, cutoff.date()):
        if day_start(day) >= cutoff:
            break
        period = period_of(day)
        states, features = cache.at(day, period.end)
        for state in states:
            outcome = outcomes.get(state.opportunity_id)
            if outcome is None:
                continue
            vectors.append(features[state.opportunity_id])
            labels.append(outcome.won and outcome.closed_at < day_start(period.end))
    return vectors, labels


# ---------------------------------------------------------------- versions


def _data_hash(vectors: Sequence[dict[str, float]], labels: Sequence[bool]) -> str:
    digest = hashlib.sha256()
    for v, label in zip(vectors, labels):
        digest.update(json.dumps([[round(v.get(f, 0.0), 6) for f in FEATURES], bool(label)]).encode() + b"\n")
    return digest.hexdigest()


def save_version(model_dir: Path, org_id: int, params: WinModelParams, info: dict[str, Any], data_hash: str,
                 now: datetime) -> tuple[str, Path]:
    """Write model.json and training.json atomically under <model_dir>/winprob/<version>/; returns (version, folder)."""
    version = f"win-org{org_id}-{now:%Y%m%d%H%M%S}-{data_hash[:8]}"
    root = Path(model_dir) / WINPROB_DIR
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=root))
    try:
        staging.chmod(0o755)
        (staging / "model.json").write_text(json.dumps(params.as_dict(), indent=2), encoding="utf-8")
        (staging / "training.json").write_text(json.dumps({**info, "version": version}, indent=2, sort_keys=True), encoding="utf-8")
        target = root / version
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version, root / version


def load_params(model_dir: Path, version: str) -> WinModelParams | None:
    """The stored model of `version` (None when its folder is missing or unreadable)."""
    if not version or "/" in version or version.startswith("."):
        return None
    file = Path(model_dir) / WINPROB_DIR / version / "model.json"
    try:
        return WinModelParams.from_dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def active_model(session: Session, org_id: int) -> WinModel | None:
    """The organisation's active win-model row."""
    return session.scalars(select(WinModel).where(WinModel.org_id == org_id, WinModel.status == "active")
                           .order_by(WinModel.created_at.desc(), WinModel.id.desc())).first()


@dataclass
class TrainingOutcome:
    """What a training request did: a new version, or why there is none."""

    trained: bool
    version: str | None
    won: int
    lost: int
    note: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        return dict(self.__dict__)


def not_enough_note(won: int, lost: int, min_closed: int) -> str:
    """The visible note shown while stage probabilities stand in for the model."""
    return (f"not enough history: {won} won and {lost} lost closed deals, {min_closed} of each needed; "
            "showing stage probabilities")


def train_from_history(session: Session, history: DealHistory, cutoff: datetime, min_closed: int,
                       cache: FeatureCache | None = None) -> tuple[WinModelParams | None, dict[str, Any], tuple[int, int]]:
    """Fit on deals closed before `cutoff` if there are enough; (params or None, metrics, (won, lost))."""
    won, lost = closed_counts(history, cutoff)
    if won < min_closed or lost < min_closed:
        return None, {}, (won, lost)
    vectors, labels = training_examples(cache or FeatureCache(session, history), cutoff)
    if len(set(labels)) < 2:
        return None, {}, (won, lost)
    params, metrics = fit(vectors, labels)
    metrics["data_hash"] = _data_hash(vectors, labels)
    return params, metrics, (won, lost)


def train_win_model(uow: UnitOfWork, model_dir: Path, org_id: int, min_closed: int, now: datetime | None = None) -> TrainingOutcome:
    """Train a new version on all closed deals and make it active (the previous one is retired); commits."""
    now = now or utcnow()
    history = DealHistory.load(uow.s, org_id)
    params, metrics, (won, lost) = train_from_history(uow.s, history, now, min_closed)
    if params is None:
        return TrainingOutcome(False, None, won, lost, not_enough_note(won, lost, min_closed))
    info = {"org_id": org_id, "trained_at": now.isoformat(), "won": won, "lost": lost, "features": list(FEATURES),
            "learner": "sklearn LogisticRegression(C=0.3) on StandardScaler features", "metrics": metrics}
    version, _ = save_version(model_dir, org_id, params, info, metrics["data_hash"], now)
    uow.s.execute(update(WinModel).where(WinModel.org_id == org_id, WinModel.status == "active").values(status="retired"))
    uow.s.add(WinModel(org_id=org_id, version=version, status="active", won=won, lost=lost, metrics=metrics, created_at=now))
    uow.commit()
    return TrainingOutcome(True, version, won, lost, f"trained on {won} won and {lost} lost deals", metrics)


def needs_training(session: Session, org_id: int, min_closed: int) -> bool:
    """True when the organisation has enough closed deals and more closed since its active model was trained."""
    history = DealHistory.load(session, org_id)
    won, lost = closed_counts(history, utcnow() + timedelta(days=1))
    if won < min_closed or lost < min_closed:
        return False
    current = active_model(session, org_id)
    return current is None or won + lost > current.won + current.lost


# ---------------------------------------------------------------- predicting


def stage_probability(state: DealState, period_end: date) -> float:
    """The fallback: the stage's probability for deals whose close date falls before `period_end`, else 0."""
    if state.close_date is None or state.close_date >= period_end:
        return 0.0
    return state.stage.probability / 100.0


@dataclass
class WinProbabilities:
    """P(win within a period) of open deals, by which method, with the note to show beside them."""

    method: str  # model | stage
    version: str | None
    note: str
    by_deal: dict[int, float]
    states: list[DealState]

    def predicted(self) -> dict[str, float]:
        """Σ P(win within the period) × amount, per currency."""
        out: dict[str, float] = {}
        for s in self.states:
            out[s.currency] = out.get(s.currency, 0.0) + self.by_deal.get(s.opportunity_id, 0.0) * s.amount
        return out


def win_probabilities(session: Session, model_dir: Path, org_id: int, period: Period, min_closed: int,
                      at: datetime | None = None, opportunity_ids: Iterable[int] | None = None) -> WinProbabilities:
    """P(win before the period ends) of the organisation's open deals as they stand at `at` (default now): the active
    model's, else stage probabilities with the "not enough history" note."""
    at = at or utcnow()
    history = DealHistory.load(session, org_id, list(opportunity_ids) if opportunity_ids is not None else None)
    states = history.states_at(at)
    row = active_model(session, org_id)
    params = load_params(model_dir, row.version) if row is not None else None
    if params is None:
        won, lost = closed_counts(DealHistory.load(session, org_id) if opportunity_ids is not None else history, at)
        note = not_enough_note(won, lost, min_closed) if won < min_closed or lost < min_closed else (
            "the win-probability model has not been trained yet; showing stage probabilities")
        return WinProbabilities("stage", None, note, {s.opportunity_id: stage_probability(s, period.end) for s in states}, states)
    features = features_as_of(session, states, at, period.end)
    return WinProbabilities("model", row.version, f"win-probability model {row.version} ({row.won} won, {row.lost} lost)",
                            {s.opportunity_id: params.probability(features[s.opportunity_id]) for s in states}, states)


def predicted_amount(session: Session, model_dir: Path, org_id: int, period: Period, min_closed: int,
                     opportunity_ids: Iterable[int] | None = None) -> tuple[dict[str, float], str, str]:
    """The forecast roll-up's "predicted": (Σ P(win within period) × amount per currency, method, note)."""
    probs = win_probabilities(session, model_dir, org_id, period, min_closed, opportunity_ids=opportunity_ids)
    return probs.predicted(), probs.method, probs.note


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of `moment`."""
    return moment.astimezone(timezone.utc).date()


class ModelPredictor:
    """The forecast roll-up's `WinPredictor`: the active model's P(win within the period), else stage probabilities,
    with the line that says which (the "not enough history" note while the organisation lacks closed deals)."""

    def __init__(self, model_dir: Path, min_closed: int):
        self.model_dir = Path(model_dir)
        self.min_closed = min_closed
        self._note = ""

    def win_probabilities(self, uow: UnitOfWork, org_id: int, opportunity_ids: list[int], period: Period) -> dict[int, float]:
        """P(win before the period ends) of the given open deals."""
        probs = win_probabilities(uow.s, self.model_dir, org_id, period, self.min_closed, opportunity_ids=opportunity_ids)
        self._note = probs.note
        return probs.by_deal

    def note(self) -> str:
        """Which model (or the stage fallback and why) the last probabilities came from."""
        return self._note
