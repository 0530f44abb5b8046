"""How far to trust each rater: a Dawid–Skene estimate of their confusion matrix from overlapping items.

Every rated item has labels from one or more raters, plus the label the current model gives it (a pseudo-rater
that has seen every item, so a rater who is the only person on an item still has a peer). EM alternates between
the posterior of each item's true label and each rater's confusion matrix. From the confusion matrix we read:

- agreement: the rater's estimated accuracy against the consensus;
- kappa: agreement beyond what their own label mix would give by chance (0 = uninformative: a rater who says
  "positive" to everything has kappa 0 however positive the team's mail is);
- bias: mean (rater label − consensus label) on the −1 (negative) … +1 (positive) scale;
- weight: the loss weight of their ratings, 0..1 (full at kappa ≥ FULL_WEIGHT_KAPPA, shrunk toward a neutral
  prior for raters with few ratings, 0 when flagged).

Flags name systematic bias a manager should see: one label for (nearly) everything while the consensus is mixed,
or ratings consistently more positive / more negative than the team. A lone rater (no items shared with other
people) is only flagged when the model itself agrees well with the team, since then the consensus means something.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from .tone_labels import LABELS

LABEL_VALUE = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}
MODEL_RATER = "__model__"

EM_ITERATIONS = 50
DIAGONAL_PRIOR = 2.0  # Dirichlet pseudo-counts: a rater is assumed better than chance until shown otherwise
OFF_DIAGONAL_PRIOR = 0.5
CLASS_PRIOR_PSEUDO = 0.5  # the class prior is pulled halfway to uniform: one loud rater cannot make "positive" the norm
FULL_WEIGHT_KAPPA = 0.5  # moderate agreement beyond chance earns full weight
PRIOR_WEIGHT = 0.7  # what a rater with no track record gets
SHRINK_RATINGS = 10  # pseudo-count pulling few-rating raters toward PRIOR_WEIGHT
MIN_RATINGS_TO_FLAG = 20
ONE_LABEL_SHARE = 0.85  # "rates (nearly) everything X"
ONE_LABEL_EXCESS = 0.30  # ... while the consensus gives X this much less often
BIAS_FLAG = 0.35  # mean shift on the −1..1 scale
TRUSTED_MODEL_KAPPA = 0.4  # below this the consensus is too uncertain to call a lone rater biased


@dataclass(frozen=True)
class RatingObservation:
    """One rater's label for one item."""

    rater: str
    item: str
    label: str


@dataclass(frozen=True)
class RaterEstimate:
    """What the estimate says about one rater."""

    rater: str
    ratings: int
    agreement: float
    kappa: float
    bias: float
    weight: float
    flagged: bool
    flag_reason: str
    confusion: list[list[float]]  # rows: consensus label, columns: rater label (LABELS order), rows sum to 1
    label_share: dict[str, float]
    model_agreement: float | None  # share of their ratings equal to the model's label
    peer_agreement: float | None  # share agreeing with other humans on shared items (None: no shared items)

    def as_stats(self) -> dict:
        """JSON-ready details for Rater.stats."""
        return {
            "ratings": self.ratings,
            "kappa": self.kappa,
            "confusion": self.confusion,
            "label_share": self.label_share,
            "model_agreement": self.model_agreement,
            "peer_agreement": self.peer_agreement,
        }


@dataclass(frozen=True)
class ReliabilityEstimate:
    """Per-rater estimates, the consensus posterior of every item, and the class prior."""

    raters: dict[str, RaterEstimate]
    item_posterior: dict[str, dict[str, float]] = field(default_factory=dict)
    class_prior: dict[str, float] = field(default_factory=dict)

    def weight_of(self, rater: str) -> float:
        """The training weight of `rater`'s ratings (PRIOR_WEIGHT for a rater not in the estimate)."""
        estimate = self.raters.get(rater)
        return estimate.weight if estimate is not None else PRIOR_WEIGHT


def estimate_reliability(
    observations: Iterable[RatingObservation],
    model_labels: Mapping[str, str] | None = None,
    iterations: int = EM_ITERATIONS,
) -> ReliabilityEstimate:
    """Dawid–Skene EM over human ratings plus the model's label per item (if given)."""
    human = [o for o in observations if o.label in LABEL_VALUE]
    if not human:
        return ReliabilityEstimate(raters={})
    model_labels = {k: v for k, v in (model_labels or {}).items() if v in LABEL_VALUE}
    items = sorted({o.item for o in human})
    item_index = {item: i for i, item in enumerate(items)}
    all_obs = human + [RatingObservation(MODEL_RATER, item, label) for item, label in model_labels.items() if item in item_index]
    raters = sorted({o.rater for o in all_obs})
    rater_index = {rater: k for k, rater in enumerate(raters)}
    n_items, n_raters, n_labels = len(items), len(raters), len(LABELS)
    label_index = {label: j for j, label in enumerate(LABELS)}
    obs_i = np.array([item_index[o.item] for o in all_obs])
    obs_k = np.array([rater_index[o.rater] for o in all_obs])
    obs_l = np.array([label_index[o.label] for o in all_obs])

    # Start from the people's majority vote (the model only breaks ties), so EM begins in the humans' basin.
    posterior = np.full((n_items, n_labels), 1e-3)
    np.add.at(posterior, (obs_i, obs_l), np.where(obs_k == rater_index.get(MODEL_RATER, -1), 0.4, 1.0))
    posterior /= posterior.sum(axis=1, keepdims=True)
    prior_counts = np.full((n_labels, n_labels), OFF_DIAGONAL_PRIOR) + np.eye(n_labels) * (DIAGONAL_PRIOR - OFF_DIAGONAL_PRIOR)
    for _ in range(iterations):
        confusion = np.broadcast_to(prior_counts, (n_raters, n_labels, n_labels)).copy()
        np.add.at(confusion, (obs_k, slice(None), obs_l), posterior[obs_i])  # [rater, true, said] += P(true)
        confusion /= confusion.sum(axis=2, keepdims=True)
        class_prior = (posterior.sum(axis=0) + CLASS_PRIOR_PSEUDO * n_items / n_labels) / (n_items * (1 + CLASS_PRIOR_PSEUDO))
        log_post = np.tile(np.log(class_prior), (n_items, 1))
        np.add.at(log_post, obs_i, np.log(confusion[obs_k, :, obs_l]))
        log_post -= log_post.max(axis=1, keepdims=True)
        updated = np.exp(log_post)
        updated /= updated.sum(axis=1, keepdims=True)
        converged = np.abs(updated - posterior).max() < 1e-6
        posterior = updated
        if converged:
            break

    consensus_value = posterior @ np.array([LABEL_VALUE[label] for label in LABELS])
    by_rater: dict[str, list[RatingObservation]] = defaultdict(list)
    for o in human:
        by_rater[o.rater].append(o)
    by_item: dict[str, list[RatingObservation]] = defaultdict(list)
    for o in human:
        by_item[o.item].append(o)
    model_trusted = MODEL_RATER in rater_index and _kappa_of(confusion[rater_index[MODEL_RATER]], class_prior) >= TRUSTED_MODEL_KAPPA
    estimates = {}
    for rater, own in by_rater.items():
        shared = sum(1 for o in own if any(p.rater != rater for p in by_item[o.item]))
        estimates[rater] = _rater_estimate(
            rater, own, confusion[rater_index[rater]], class_prior, posterior, consensus_value, item_index,
            model_labels, by_item, can_flag=model_trusted or shared >= MIN_RATINGS_TO_FLAG,
        )
    return ReliabilityEstimate(
        raters=estimates,
        item_posterior={item: _rounded_dict(posterior[i]) for item, i in item_index.items()},
        class_prior=_rounded_dict(class_prior),
    )


def _rater_estimate(
    rater: str,
    own: Sequence[RatingObservation],
    confusion: np.ndarray,
    class_prior: np.ndarray,
    posterior: np.ndarray,
    consensus_value: np.ndarray,
    item_index: Mapping[str, int],
    model_labels: Mapping[str, str],
    by_item: Mapping[str, list[RatingObservation]],
    can_flag: bool,
) -> RaterEstimate:
    count = len(own)
    share = np.zeros(len(LABELS))
    for o in own:
        share[LABELS.index(o.label)] += 1
    share /= count
    rows = [item_index[o.item] for o in own]
    consensus_share = posterior[rows].mean(axis=0)
    # Agreement and chance agreement on this rater's own items, against the consensus posterior.
    agreement = float(np.mean([posterior[item_index[o.item], LABELS.index(o.label)] for o in own]))
    chance = float(consensus_share @ share)
    kappa = 0.0 if chance >= 1.0 - 1e-9 else (agreement - chance) / (1.0 - chance)
    bias = float(np.mean([LABEL_VALUE[o.label] - consensus_value[item_index[o.item]] for o in own]))
    flagged, reason = _flag(count, share, consensus_share, bias) if can_flag else (False, "")
    informed = min(1.0, max(0.0, kappa) / FULL_WEIGHT_KAPPA)
    weight = 0.0 if flagged else (informed * count + PRIOR_WEIGHT * SHRINK_RATINGS) / (count + SHRINK_RATINGS)
    with_model = [o for o in own if o.item in model_labels]
    model_agreement = (
        round(sum(model_labels[o.item] == o.label for o in with_model) / len(with_model), 4) if with_model else None
    )
    peer_pairs = [(o.label, p.label) for o in own for p in by_item[o.item] if p.rater != rater]
    peer_agreement = round(sum(a == b for a, b in peer_pairs) / len(peer_pairs), 4) if peer_pairs else None
    return RaterEstimate(
        rater=rater,
        ratings=count,
        agreement=round(agreement, 4),
        kappa=round(kappa, 4),
        bias=round(bias, 4),
        weight=round(weight, 4),
        flagged=flagged,
        flag_reason=reason,
        confusion=[[round(float(v), 4) for v in row] for row in confusion],
        label_share=_rounded_dict(share),
        model_agreement=model_agreement,
        peer_agreement=peer_agreement,
    )


def _kappa_of(confusion: np.ndarray, class_prior: np.ndarray) -> float:
    """Agreement beyond chance implied by a confusion matrix (rows true, columns said) and the class prior."""
    agreement = float(class_prior @ np.diag(confusion))
    chance = float(class_prior @ (class_prior @ confusion))
    return 0.0 if chance >= 1.0 - 1e-9 else (agreement - chance) / (1.0 - chance)


def _flag(count: int, share: np.ndarray, consensus_share: np.ndarray, bias: float) -> tuple[bool, str]:
    """Systematic bias worth a manager's attention (only with enough ratings to tell)."""
    if count < MIN_RATINGS_TO_FLAG:
        return False, ""
    top = int(share.argmax())
    if share[top] >= ONE_LABEL_SHARE and share[top] - consensus_share[top] >= ONE_LABEL_EXCESS:
        return True, (
            f"rates {share[top]:.0%} of emails {LABELS[top]} where the team's consensus says {consensus_share[top]:.0%}"
        )
    if bias >= BIAS_FLAG:
        return True, f"rates systematically more positive than the team (mean shift {bias:+.2f} on a -1..1 scale)"
    if bias <= -BIAS_FLAG:
        return True, f"rates systematically more negative than the team (mean shift {bias:+.2f} on a -1..1 scale)"
    return False, ""


def _rounded_dict(values: np.ndarray) -> dict[str, float]:
    return {label: round(float(v), 4) for label, v in zip(LABELS, values)}
