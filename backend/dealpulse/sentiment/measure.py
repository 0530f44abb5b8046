"""One evaluation of a loaded scorer on labelled passages: F1, opposite-polarity errors, calibration."""

from __future__ import annotations

from typing import Protocol, Sequence

from .calibration import ECE_BINS, bins_as_dicts, expected_calibration_error, reliability_bins
from .corpus import LabelledText
from .evaluation import classification_metrics, is_opposite_polarity


class _Scorer(Protocol):
    def score_texts(self, texts: Sequence[str], *, split_quotes: bool = True) -> list: ...


def measure_scorer(scorer: _Scorer, passages: Sequence[LabelledText], *, split_quotes: bool = True) -> dict:
    """Score `passages` as `dealpulse score` would and compare with their gold labels.

    Opposite-polarity errors (positive read negative or the reverse) are counted apart from near misses
    (a polar passage read neutral or a neutral one read polar) and listed with their texts.
    """
    results = scorer.score_texts([p.text for p in passages], split_quotes=split_quotes)
    gold = [p.label for p in passages]
    predicted = [r.label for r in results]
    metrics = classification_metrics(gold, predicted)
    opposite = [
        {"id": p.id, "text": p.text, "gold": p.label, "predicted": r.label, "score": r.score, "confidence": r.confidence}
        for p, r in zip(passages, results)
        if is_opposite_polarity(p.label, r.label)
    ]
    errors = sum(1 for g, q in zip(gold, predicted) if g != q)
    confidences = [r.confidence for r in results]
    correct = [g == q for g, q in zip(gold, predicted)]
    return {
        "count": len(passages),
        "metrics": metrics.as_dict(),
        "opposite_polarity": len(opposite),
        "opposite_polarity_percent": round(100 * len(opposite) / len(passages), 2) if passages else 0.0,
        "near_misses": errors - len(opposite),
        "ece": expected_calibration_error(confidences, correct, ECE_BINS),
        "reliability": bins_as_dicts(reliability_bins(confidences, correct, ECE_BINS)),
        "opposite_polarity_errors": opposite,
        "errors": [
            {"id": p.id, "text": p.text, "gold": p.label, "predicted": r.label, "score": r.score}
            for p, r in zip(passages, results)
            if p.label != r.label
        ],
    }
